//! A bounding volume hierarchy over the scene's primitives.
//!
//! Built top-down with the surface area heuristic evaluated over binned centroids,
//! stored as a flat array of 32-byte nodes (a node's two children are adjacent), and
//! traversed front-to-back with an explicit stack so that the nearer child is visited
//! first and far subtrees are culled by the closest hit found so far.

use crate::geometry::{Hit, Primitive, Ray};
use glam::Vec3;

const BINS: usize = 16;
const MAX_LEAF: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Node {
    min: Vec3,
    /// For an inner node, the index of its first child (the second follows it);
    /// for a leaf, the index of its first primitive.
    first: u32,
    max: Vec3,
    /// Zero for an inner node, the number of primitives for a leaf.
    count: u32,
}

/// The hierarchy and the primitives it owns (reordered to match the leaves).
pub struct Bvh {
    nodes: Vec<Node>,
    prims: Vec<Primitive>,
}

#[derive(Clone, Copy)]
struct Aabb {
    min: Vec3,
    max: Vec3,
}

impl Aabb {
    const EMPTY: Aabb = Aabb {
        min: Vec3::splat(f32::INFINITY),
        max: Vec3::splat(f32::NEG_INFINITY),
    };
    fn grow(&mut self, min: Vec3, max: Vec3) {
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }
    fn area(&self) -> f32 {
        let e = (self.max - self.min).max(Vec3::ZERO);
        e.x * e.y + e.y * e.z + e.z * e.x
    }
}

struct BuildPrim {
    min: Vec3,
    max: Vec3,
    centroid: Vec3,
    index: u32,
}

impl Bvh {
    pub fn build(prims: Vec<Primitive>) -> Bvh {
        let mut build: Vec<BuildPrim> = prims
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (min, max) = p.bounds();
                BuildPrim {
                    min,
                    max,
                    centroid: (min + max) * 0.5,
                    index: i as u32,
                }
            })
            .collect();
        let mut nodes = Vec::with_capacity(2 * prims.len().max(1));
        nodes.push(Node {
            min: Vec3::ZERO,
            first: 0,
            max: Vec3::ZERO,
            count: 0,
        });
        if !build.is_empty() {
            let len = build.len();
            subdivide(&mut nodes, 0, &mut build, 0, len);
        }
        let ordered = build.iter().map(|b| prims[b.index as usize]).collect();
        Bvh {
            nodes,
            prims: ordered,
        }
    }

    pub fn primitives(&self) -> &[Primitive] {
        &self.prims
    }

    /// The closest hit along `ray` within (t_min, t_max).
    pub fn intersect(&self, ray: &Ray, t_min: f32, mut t_max: f32) -> Option<Hit> {
        if self.prims.is_empty() {
            return None;
        }
        let inv_d = ray.d.recip();
        let mut best: Option<(u32, f32)> = None;
        let mut stack = [0u32; 64];
        let mut sp = 0usize;
        let mut node = &self.nodes[0];
        slab(node, ray.o, inv_d, t_min, t_max)?;
        loop {
            if node.count > 0 {
                for i in node.first..node.first + node.count {
                    if let Some(t) = self.prims[i as usize].intersect(ray, t_min, t_max) {
                        t_max = t;
                        best = Some((i, t));
                    }
                }
            } else {
                let a = &self.nodes[node.first as usize];
                let b = &self.nodes[node.first as usize + 1];
                let ta = slab(a, ray.o, inv_d, t_min, t_max);
                let tb = slab(b, ray.o, inv_d, t_min, t_max);
                match (ta, tb) {
                    (Some(ta), Some(tb)) => {
                        let (near, far) = if ta <= tb {
                            (node.first, node.first + 1)
                        } else {
                            (node.first + 1, node.first)
                        };
                        stack[sp] = far;
                        sp += 1;
                        node = &self.nodes[near as usize];
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
                    return best.map(|(i, t)| self.prims[i as usize].hit(ray, t));
                }
                sp -= 1;
                let candidate = &self.nodes[stack[sp] as usize];
                if slab(candidate, ray.o, inv_d, t_min, t_max).is_some() {
                    node = candidate;
                    break;
                }
            }
        }
    }

    /// Whether anything blocks the segment (t_min, t_max) of `ray`.
    pub fn occluded(&self, ray: &Ray, t_min: f32, t_max: f32) -> bool {
        if self.prims.is_empty() {
            return false;
        }
        let inv_d = ray.d.recip();
        let mut stack = [0u32; 64];
        let mut sp = 1usize;
        stack[0] = 0;
        while sp > 0 {
            sp -= 1;
            let node = &self.nodes[stack[sp] as usize];
            if slab(node, ray.o, inv_d, t_min, t_max).is_none() {
                continue;
            }
            if node.count > 0 {
                for i in node.first..node.first + node.count {
                    if self.prims[i as usize]
                        .intersect(ray, t_min, t_max)
                        .is_some()
                    {
                        return true;
                    }
                }
            } else {
                stack[sp] = node.first;
                stack[sp + 1] = node.first + 1;
                sp += 2;
            }
        }
        false
    }
}

/// The entry distance of the ray into the node's box, if it enters within (t_min, t_max).
#[inline]
fn slab(node: &Node, o: Vec3, inv_d: Vec3, t_min: f32, t_max: f32) -> Option<f32> {
    let t0 = (node.min - o) * inv_d;
    let t1 = (node.max - o) * inv_d;
    let near = t0.min(t1).max_element().max(t_min);
    let far = t0.max(t1).min_element().min(t_max);
    (near <= far).then_some(near)
}

fn subdivide(nodes: &mut Vec<Node>, at: usize, prims: &mut [BuildPrim], offset: usize, len: usize) {
    let slice = &mut prims[offset..offset + len];
    let mut bounds = Aabb::EMPTY;
    let mut cbounds = Aabb::EMPTY;
    for p in slice.iter() {
        bounds.grow(p.min, p.max);
        cbounds.grow(p.centroid, p.centroid);
    }
    nodes[at] = Node {
        min: bounds.min,
        first: offset as u32,
        max: bounds.max,
        count: len as u32,
    };
    if len <= MAX_LEAF {
        return;
    }
    // Find the cheapest split over all axes, binning centroids.
    let mut best: Option<(f32, usize, usize)> = None; // (cost, axis, split bin)
    let extent = cbounds.max - cbounds.min;
    for axis in 0..3 {
        if extent[axis] <= 1e-12 {
            continue;
        }
        let scale = BINS as f32 / extent[axis];
        let mut bins = [(Aabb::EMPTY, 0usize); BINS];
        for p in slice.iter() {
            let b = (((p.centroid[axis] - cbounds.min[axis]) * scale) as usize).min(BINS - 1);
            bins[b].0.grow(p.min, p.max);
            bins[b].1 += 1;
        }
        // Sweep from the right to get the cost of each right side, then from the left.
        let mut right_area = [0.0f32; BINS];
        let mut right_count = [0usize; BINS];
        let mut acc = Aabb::EMPTY;
        let mut count = 0;
        for i in (1..BINS).rev() {
            acc.grow(bins[i].0.min, bins[i].0.max);
            count += bins[i].1;
            right_area[i] = acc.area();
            right_count[i] = count;
        }
        let mut acc = Aabb::EMPTY;
        let mut count = 0;
        for i in 0..BINS - 1 {
            acc.grow(bins[i].0.min, bins[i].0.max);
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
    let leaf_cost = bounds.area() * len as f32;
    let Some((cost, axis, split)) = best else {
        return;
    };
    // Intersection cost relative to traversal: splitting must beat testing every primitive.
    if cost + bounds.area() * 0.5 >= leaf_cost && len <= 16 {
        return;
    }
    let scale = BINS as f32 / extent[axis];
    let mut left = 0;
    for i in 0..len {
        let b = (((slice[i].centroid[axis] - cbounds.min[axis]) * scale) as usize).min(BINS - 1);
        if b < split {
            slice.swap(i, left);
            left += 1;
        }
    }
    let first_child = nodes.len();
    nodes.push(nodes[at]);
    nodes.push(nodes[at]);
    nodes[at].first = first_child as u32;
    nodes[at].count = 0;
    subdivide(nodes, first_child, prims, offset, left);
    subdivide(nodes, first_child + 1, prims, offset + left, len - left);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{PrimShape, Sphere, Triangle};
    use crate::sampling::{uniform_sphere, SampleRng};

    fn random_scene(n: usize) -> Vec<Primitive> {
        let mut rng = SampleRng::for_sample(0, 0, 0, 42);
        (0..n)
            .map(|i| {
                let c = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 10.0;
                let shape = if i % 3 == 0 {
                    PrimShape::Sphere(Sphere {
                        center: c,
                        radius: 0.1 + rng.uniform() * 0.3,
                    })
                } else {
                    let a = c + uniform_sphere(rng.uniform(), rng.uniform()) * 0.5;
                    let b = c + uniform_sphere(rng.uniform(), rng.uniform()) * 0.5;
                    PrimShape::Triangle(Triangle::new(c, a, b))
                };
                Primitive {
                    shape,
                    material: i as u32,
                }
            })
            .collect()
    }

    /// The BVH must find exactly what testing every primitive finds.
    #[test]
    fn matches_brute_force() {
        let prims = random_scene(2000);
        let bvh = Bvh::build(prims.clone());
        let mut rng = SampleRng::for_sample(1, 1, 1, 7);
        for _ in 0..2000 {
            let o = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::ONE;
            let d = uniform_sphere(rng.uniform(), rng.uniform());
            let ray = Ray { o, d };
            let brute = prims
                .iter()
                .filter_map(|p| {
                    p.intersect(&ray, 1e-4, f32::INFINITY)
                        .map(|t| (t, p.material))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let got = bvh
                .intersect(&ray, 1e-4, f32::INFINITY)
                .map(|h| (h.t, h.material));
            assert_eq!(brute.map(|b| b.1), got.map(|g| g.1));
            if let (Some(b), Some(g)) = (brute, got) {
                assert!((b.0 - g.0).abs() < 1e-5);
            }
            assert_eq!(bvh.occluded(&ray, 1e-4, f32::INFINITY), brute.is_some());
        }
    }
}
