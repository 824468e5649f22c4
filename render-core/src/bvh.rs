//! A bounding volume hierarchy over boxes, used at both levels of the scene: over the
//! triangles of one mesh (a bottom level) and over the instances of the scene (the
//! top level).
//!
//! Built top-down with the surface area heuristic evaluated over 16 centroid bins per
//! axis; large subtrees are built in parallel with rayon and grafted together. Stored
//! as 32-byte nodes whose two children share one 64-byte cache line. Traversal is
//! front-to-back with an explicit stack: the nearer child first, and subtrees beyond
//! the closest hit so far are skipped. The hierarchy stores no primitives: it reports
//! leaf ranges of its [`Bvh::order`], and callers keep their primitives in that order
//! so leaves read memory sequentially.

use glam::{Vec3, Vec3A, Vec4};

const BINS: usize = 16;
const MAX_LEAF: usize = 2;
/// Below this many primitives a subtree is built on the current thread.
const PARALLEL_THRESHOLD: usize = 1024;

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aabb {
    pub min: Vec3,
    pub max: Vec3,
}

impl Aabb {
    pub const EMPTY: Aabb = Aabb {
        min: Vec3::splat(f32::INFINITY),
        max: Vec3::splat(f32::NEG_INFINITY),
    };

    pub fn grow(&mut self, other: &Aabb) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn grow_point(&mut self, p: Vec3) {
        self.min = self.min.min(p);
        self.max = self.max.max(p);
    }

    fn area(&self) -> f32 {
        let e = (self.max - self.min).max(Vec3::ZERO);
        e.x * e.y + e.y * e.z + e.z * e.x
    }

    /// Half the length of the diagonal (zero for an empty box).
    pub fn half_diagonal(&self) -> f32 {
        let d = self.max - self.min;
        if d.is_finite() && d.min_element() >= 0.0 {
            0.5 * d.length()
        } else {
            0.0
        }
    }

    pub fn centroid(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }

    /// Whether the box holds no point (the empty box, or one never grown).
    pub fn is_empty(&self) -> bool {
        self.min.cmpgt(self.max).any()
    }

    /// The box of this box's corners mapped by `m`; empty stays empty.
    pub fn transformed(&self, m: &glam::Affine3A) -> Aabb {
        if self.is_empty() {
            return Aabb::EMPTY;
        }
        let mut out = Aabb::EMPTY;
        for i in 0..8 {
            let corner = Vec3::new(
                if i & 1 == 0 { self.min.x } else { self.max.x },
                if i & 2 == 0 { self.min.y } else { self.max.y },
                if i & 4 == 0 { self.min.z } else { self.max.z },
            );
            out.grow_point(m.transform_point3(corner));
        }
        out
    }
}

/// 32 bytes in two SIMD registers: the box corners in x, y, z, and in the fourth
/// lanes the bits of `first` and `count`.
#[derive(Clone, Copy, Debug)]
struct Node {
    min: Vec4,
    max: Vec4,
}

impl Node {
    fn new(bounds: &Aabb, first: u32, count: u32) -> Node {
        Node {
            min: bounds.min.extend(f32::from_bits(first)),
            max: bounds.max.extend(f32::from_bits(count)),
        }
    }
    /// For an inner node, the index of its first child (the second follows it);
    /// for a leaf, the position in `order` of its first primitive.
    #[inline(always)]
    fn first(&self) -> u32 {
        self.min.w.to_bits()
    }
    /// Zero for an inner node, the number of primitives for a leaf.
    #[inline(always)]
    fn count(&self) -> u32 {
        self.max.w.to_bits()
    }
    fn set_first(&mut self, first: u32) {
        self.min.w = f32::from_bits(first);
    }
    fn bounds(&self) -> Aabb {
        Aabb {
            min: self.min.truncate(),
            max: self.max.truncate(),
        }
    }
}

/// Two sibling nodes in one 64-byte cache line: a traversal step that tests both
/// children of a node touches exactly one line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct NodePair([Node; 2]);

/// The hierarchy: nodes, and the order in which callers must store their primitives.
pub struct Bvh {
    /// Node `i` is lane `(i + 1) % 2` of pair `(i + 1) / 2`: the root shares the first
    /// pair with an unused node, so that every pair of siblings (which the builder
    /// places at odd indices) fills one pair.
    pairs: Vec<NodePair>,
    node_count: usize,
    order: Vec<u32>,
}

/// A ray prepared for box tests.
#[derive(Clone, Copy)]
pub struct RayBoxTest {
    o: Vec3A,
    inv_d: Vec3A,
}

impl RayBoxTest {
    pub fn new(o: Vec3, d: Vec3) -> Self {
        RayBoxTest {
            o: o.into(),
            inv_d: Vec3A::from(d).recip(),
        }
    }

    /// The entry distance into the node's box, if the ray enters it within (t_min, t_max).
    #[inline(always)]
    fn enter(&self, node: &Node, t_min: f32, t_max: f32) -> Option<f32> {
        let t0 = (Vec3A::from_vec4(node.min) - self.o) * self.inv_d;
        let t1 = (Vec3A::from_vec4(node.max) - self.o) * self.inv_d;
        let near = t0.min(t1).max_element().max(t_min);
        let far = t0.max(t1).min_element().min(t_max);
        (near <= far).then_some(near)
    }
}

struct BuildPrim {
    bounds: Aabb,
    centroid: Vec3,
    index: u32,
}

impl Bvh {
    /// Builds a hierarchy over `bounds` (one box per primitive).
    pub fn build(bounds: &[Aabb]) -> Bvh {
        let mut prims: Vec<BuildPrim> = bounds
            .iter()
            .enumerate()
            .map(|(i, b)| BuildPrim {
                bounds: *b,
                centroid: b.centroid(),
                index: i as u32,
            })
            .collect();
        let nodes = if prims.is_empty() {
            Vec::new()
        } else {
            build_subtree(&mut prims, 0)
        };
        let unused = Node::new(&Aabb::EMPTY, 0, 0);
        let pairs = std::iter::once(unused)
            .chain(nodes.iter().copied())
            .collect::<Vec<Node>>()
            .chunks(2)
            .map(|c| NodePair([c[0], c.get(1).copied().unwrap_or(unused)]))
            .collect();
        Bvh {
            pairs,
            node_count: nodes.len(),
            order: prims.iter().map(|p| p.index).collect(),
        }
    }

    #[inline(always)]
    fn node(&self, i: u32) -> &Node {
        let j = i as usize + 1;
        &self.pairs[j >> 1].0[j & 1]
    }

    /// Primitive indices in leaf order: store primitive `order[i]` at position `i`.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The box around everything.
    pub fn bounds(&self) -> Aabb {
        if self.node_count == 0 {
            Aabb::EMPTY
        } else {
            self.node(0).bounds()
        }
    }

    /// Visits leaves front to back. `leaf(position, t_max)` tests the primitive stored
    /// at `position` (in [`Bvh::order`]) and returns a closer hit distance if it found
    /// one, which then bounds the rest of the traversal. Returns whether anything hit.
    /// With `any` set, stops at the first hit (for shadow rays).
    #[inline]
    pub fn traverse(
        &self,
        ray: &RayBoxTest,
        t_min: f32,
        mut t_max: f32,
        any: bool,
        mut leaf: impl FnMut(u32, f32) -> Option<f32>,
    ) -> bool {
        let Some(root) = (self.node_count > 0).then(|| self.node(0)) else {
            return false;
        };
        if ray.enter(root, t_min, t_max).is_none() {
            return false;
        }
        let mut hit = false;
        let mut stack = [0u32; 64];
        let mut sp = 0usize;
        let mut node = root;
        loop {
            if node.count() > 0 {
                for i in node.first()..node.first() + node.count() {
                    if let Some(t) = leaf(i, t_max) {
                        t_max = t;
                        hit = true;
                        if any {
                            return true;
                        }
                    }
                }
            } else {
                let first = node.first();
                let siblings = &self.pairs[(first as usize + 1) >> 1].0;
                let (a, b) = (&siblings[0], &siblings[1]);
                let ta = ray.enter(a, t_min, t_max);
                let tb = ray.enter(b, t_min, t_max);
                match (ta, tb) {
                    (Some(ta), Some(tb)) => {
                        let (near, far) = if ta <= tb { (a, first + 1) } else { (b, first) };
                        stack[sp] = far;
                        sp += 1;
                        node = near;
                        continue;
                    }
                    (Some(_), None) => {
                        node = a;
                        continue;
                    }
                    (None, Some(_)) => {
                        node = b;
                        continue;
                    }
                    (None, None) => {}
                }
            }
            // Pop until a node that can still hold a closer hit.
            loop {
                if sp == 0 {
                    return hit;
                }
                sp -= 1;
                let candidate = self.node(stack[sp]);
                if ray.enter(candidate, t_min, t_max).is_some() {
                    node = candidate;
                    break;
                }
            }
        }
    }
}

/// Builds the subtree over `prims` (whose first primitive is at `offset` in the whole
/// order). Returns its nodes with the subtree's root at index 0.
fn build_subtree(prims: &mut [BuildPrim], offset: usize) -> Vec<Node> {
    let mut bounds = Aabb::EMPTY;
    let mut cbounds = Aabb::EMPTY;
    for p in prims.iter() {
        bounds.grow(&p.bounds);
        cbounds.grow_point(p.centroid);
    }
    let len = prims.len();
    let leaf = vec![Node::new(&bounds, offset as u32, len as u32)];
    if len <= MAX_LEAF {
        return leaf;
    }
    let Some((axis, split)) = best_split(prims, &bounds, &cbounds) else {
        return leaf;
    };
    let extent = cbounds.max[axis] - cbounds.min[axis];
    let scale = BINS as f32 / extent;
    let bin =
        |p: &BuildPrim| (((p.centroid[axis] - cbounds.min[axis]) * scale) as usize).min(BINS - 1);
    let mut left = 0;
    for i in 0..len {
        if bin(&prims[i]) < split {
            prims.swap(i, left);
            left += 1;
        }
    }
    let (lp, rp) = prims.split_at_mut(left);
    let (l, r) = if len >= PARALLEL_THRESHOLD {
        rayon::join(
            || build_subtree(lp, offset),
            || build_subtree(rp, offset + left),
        )
    } else {
        (build_subtree(lp, offset), build_subtree(rp, offset + left))
    };
    // Root, then the two children side by side, then the rest of each subtree.
    let mut nodes = Vec::with_capacity(l.len() + r.len() + 1);
    nodes.push(Node::new(&bounds, 1, 0));
    nodes.push(l[0]);
    nodes.push(r[0]);
    graft(&mut nodes, l, 1);
    graft(&mut nodes, r, 2);
    nodes
}

/// Appends `sub` (minus its root, already placed at `root_at`) to `nodes`, renumbering
/// child links.
fn graft(nodes: &mut Vec<Node>, sub: Vec<Node>, root_at: usize) {
    // Node k >= 1 of `sub` lands at base + k - 1.
    let base = nodes.len() as u32;
    let relink = |n: &mut Node| {
        if n.count() == 0 {
            n.set_first(base + n.first() - 1);
        }
    };
    relink(&mut nodes[root_at]);
    for mut n in sub.into_iter().skip(1) {
        relink(&mut n);
        nodes.push(n);
    }
}

/// The cheapest split by the surface area heuristic: (axis, first bin of the right
/// side), or `None` when no split beats a leaf.
fn best_split(prims: &[BuildPrim], bounds: &Aabb, cbounds: &Aabb) -> Option<(usize, usize)> {
    let mut best: Option<(f32, usize, usize)> = None;
    for axis in 0..3 {
        let extent = cbounds.max[axis] - cbounds.min[axis];
        if extent <= 1e-12 {
            continue;
        }
        let scale = BINS as f32 / extent;
        let mut bins = [(Aabb::EMPTY, 0usize); BINS];
        for p in prims {
            let b = (((p.centroid[axis] - cbounds.min[axis]) * scale) as usize).min(BINS - 1);
            bins[b].0.grow(&p.bounds);
            bins[b].1 += 1;
        }
        // Sweep from the right for the right sides' costs, then from the left.
        let mut right_area = [0.0f32; BINS];
        let mut right_count = [0usize; BINS];
        let (mut acc, mut count) = (Aabb::EMPTY, 0);
        for i in (1..BINS).rev() {
            acc.grow(&bins[i].0);
            count += bins[i].1;
            right_area[i] = acc.area();
            right_count[i] = count;
        }
        let (mut acc, mut count) = (Aabb::EMPTY, 0);
        for i in 0..BINS - 1 {
            acc.grow(&bins[i].0);
            count += bins[i].1;
            if count == 0 || right_count[i + 1] == 0 {
                continue;
            }
            let cost = acc.area() * count as f32 + right_area[i + 1] * right_count[i + 1] as f32;
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, axis, i + 1));
            }
        }
    }
    let (cost, axis, split) = best?;
    // A node costs about one primitive test to traverse; split only when that pays,
    // and always split large sets so leaves stay small.
    let leaf_cost = bounds.area() * prims.len() as f32;
    if cost + bounds.area() >= leaf_cost && prims.len() <= 16 {
        return None;
    }
    Some((axis, split))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{uniform_sphere, SampleRng};

    fn boxes(n: usize, seed: u64) -> Vec<Aabb> {
        let mut rng = SampleRng::for_sample(0, 0, 0, seed);
        (0..n)
            .map(|_| {
                let c = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 10.0;
                let h = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 0.3;
                Aabb {
                    min: c - h,
                    max: c + h,
                }
            })
            .collect()
    }

    fn hit_box(b: &Aabb, ray: &RayBoxTest, t_max: f32) -> Option<f32> {
        ray.enter(&Node::new(b, 0, 0), 0.0, t_max)
    }

    /// Front-to-back traversal must find the nearest box, exactly as testing all of
    /// them does, for trees built sequentially and in parallel.
    #[test]
    fn nearest_hit_matches_brute_force() {
        for n in [1, 7, 300, 10_000] {
            let b = boxes(n, n as u64);
            let bvh = Bvh::build(&b);
            assert_eq!(bvh.order().len(), n);
            let mut seen = bvh.order().to_vec();
            seen.sort_unstable();
            assert!(
                seen.iter().enumerate().all(|(i, &v)| v as usize == i),
                "order is a permutation"
            );
            let ordered: Vec<Aabb> = bvh.order().iter().map(|&i| b[i as usize]).collect();
            let mut rng = SampleRng::for_sample(1, 1, 1, 7);
            for _ in 0..500 {
                let o = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::ONE;
                let ray = RayBoxTest::new(o, uniform_sphere(rng.uniform(), rng.uniform()));
                let brute = b
                    .iter()
                    .filter_map(|x| hit_box(x, &ray, f32::INFINITY))
                    .min_by(f32::total_cmp);
                let mut best = None;
                let any = bvh.traverse(&ray, 0.0, f32::INFINITY, false, |i, t_max| {
                    let t = hit_box(&ordered[i as usize], &ray, t_max)?;
                    best = Some(t);
                    Some(t)
                });
                assert_eq!(any, brute.is_some());
                assert_eq!(best, brute);
            }
        }
    }
}
