//! A bounding volume hierarchy over boxes, used at both levels of the scene: over the
//! triangles of one mesh (a bottom level) and over the instances of the scene (the
//! top level).
//!
//! Built top-down as a binary tree with the surface area heuristic evaluated over 16
//! centroid bins per axis; large subtrees are built in parallel with rayon and
//! grafted together. For traversal the binary tree is collapsed into an eight-wide
//! one (each node keeps the eight largest descendants it can reach by opening inner
//! nodes), whose 256-byte nodes hold their children's boxes as structure of arrays,
//! so one AVX pass tests all eight. A ray descends about a third as many levels as
//! in the binary tree, and while it works on the nearest child the memory of the
//! others is already being fetched. Traversal is front-to-back with an explicit
//! stack of entry distances: children beyond the closest hit so far are dropped
//! without being read again. The hierarchy stores no primitives: it reports leaf
//! ranges of its [`Bvh::order`], and callers keep their primitives in that order so
//! leaves read memory sequentially. A mesh's leaves hold up to four triangles (up to
//! sixteen where the heuristic finds no split worth it) and start at multiples of
//! four, so that the caller stores them as packs of four and tests each pack with one
//! SIMD pass.
//!
//! Length: About 870 lines of code because the build and the eight-wide traversal with
//! its SIMD node test must agree on one node layout.

use glam::{Vec3, Vec3A, Vec4};

const BINS: usize = 16;
/// Sets at most this large always become a leaf of a mesh's hierarchy (one pack);
/// the heuristic may keep up to 16 together when no split pays.
const MAX_LEAF: usize = 4;
/// Mesh leaves start at multiples of this in the order, so that a leaf is whole
/// packs of four triangles.
const LEAF_ALIGN: usize = 4;
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

/// A node of the binary tree the builder makes: the box, and in the fourth lanes the
/// bits of `first` and `count`. Traversal uses the wide tree collapsed from it.
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
    fn first(&self) -> u32 {
        self.min.w.to_bits()
    }
    /// Zero for an inner node, the number of primitives for a leaf.
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

/// Children per node of the traversal tree: eight boxes are tested together, in
/// one pass over structure-of-arrays bounds that the compiler turns into SIMD.
const WIDTH: usize = 8;
/// The binary tree is at most this deep (deeper subtrees become leaves), which
/// bounds the traversal stack.
const MAX_DEPTH: usize = 48;
const STACK: usize = MAX_DEPTH * (WIDTH - 1) + 1;

/// A node of the traversal tree: up to eight children's boxes, in the order min x,
/// max x, min y, max y, min z, max z, eight lanes each, then what each child is.
/// 256 bytes, four cache lines, aligned so that it never straddles a fifth.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct WideNode {
    bounds: [[f32; WIDTH]; 6],
    /// An inner child's node index, or a leaf's first position in `order`.
    child: [u32; WIDTH],
    /// Zero for an inner child (or an unused lane, whose box is empty and never
    /// hit), the number of primitives for a leaf.
    count: [u32; WIDTH],
}

/// The hierarchy: nodes, and the order in which callers must store their primitives.
pub struct Bvh {
    /// The root is node 0; empty when there are no primitives or only a few.
    nodes: Vec<WideNode>,
    /// When all primitives fit one leaf: their number. They are tested
    /// directly, without a box test first: a top level that found this hierarchy
    /// has just tested the same box (two-triangle quads are common).
    small: u32,
    bounds: Aabb,
    order: Vec<u32>,
}

/// A family of code paths as a zero-sized type: code generic over it is monomorphised
/// (with `#[inline(always)]`) into a caller compiled with its features, so that a
/// whole ray query runs with them and the choice is made once, outside.
pub(crate) trait Isa: Copy {
    /// Tests all of a node's children: a bit mask of those the ray enters within
    /// (t_min, t_max), and the entry distances.
    fn enter_children(
        ray: &RayBoxTest,
        n: &WideNode,
        t_min: f32,
        t_max: f32,
    ) -> (u32, [f32; WIDTH]);
}

/// The portable code paths, for any processor.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Isa for Portable {
    #[inline(always)]
    fn enter_children(
        ray: &RayBoxTest,
        n: &WideNode,
        t_min: f32,
        t_max: f32,
    ) -> (u32, [f32; WIDTH]) {
        ray.enter_children_portable(n, t_min, t_max)
    }
}

/// The x86-64-v3 code paths (AVX2, FMA, BMI). A value exists only where the process
/// chose them (`crate::cpu`), so the processor has the features; code using it must
/// run inside a function compiled with them (`#[target_feature(enable = ...)]`), or
/// its AVX node test becomes a call per node.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct V3(());

#[cfg(target_arch = "x86_64")]
impl V3 {
    /// The marker, when this process runs the x86-64-v3 paths.
    #[inline]
    pub(crate) fn detect() -> Option<V3> {
        (crate::cpu::simd() == crate::cpu::Simd::Avx2Fma).then_some(V3(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Isa for V3 {
    #[inline(always)]
    fn enter_children(
        ray: &RayBoxTest,
        n: &WideNode,
        t_min: f32,
        t_max: f32,
    ) -> (u32, [f32; WIDTH]) {
        // SAFETY: a `V3` exists only when the processor has AVX2 and FMA (`detect`).
        unsafe { ray.enter_children_avx(n, t_min, t_max) }
    }
}

/// A ray prepared for box tests.
#[derive(Clone, Copy)]
pub struct RayBoxTest {
    o: Vec3A,
    inv_d: Vec3A,
    /// Per axis, which of a node's bound rows the ray enters through: the min row
    /// (0, 2, 4) where the direction is positive, else the max row; it leaves
    /// through the other (`^ 1`). Unused lanes hold an empty box (min above max),
    /// which this ordering can never enter.
    near: [usize; 3],
    /// Whether origin and direction are finite and the direction non-zero. Box tests
    /// on anything else would produce NaN, which the SIMD min/max let through as
    /// entered (unused lanes included): such a ray hits nothing.
    valid: bool,
}

impl RayBoxTest {
    #[inline]
    pub fn new(o: Vec3, d: Vec3) -> Self {
        let inv_d = Vec3A::from(d).recip();
        RayBoxTest {
            o: o.into(),
            inv_d,
            valid: o.is_finite() && d.is_finite() && d != Vec3::ZERO,
            near: [
                usize::from(inv_d.x < 0.0),
                2 + usize::from(inv_d.y < 0.0),
                4 + usize::from(inv_d.z < 0.0),
            ],
        }
    }

    /// The entry distance into a box, if the ray enters it within (t_min, t_max).
    #[cfg(test)]
    fn enter(&self, b: &Aabb, t_min: f32, t_max: f32) -> Option<f32> {
        let t0 = (Vec3A::from(b.min) - self.o) * self.inv_d;
        let t1 = (Vec3A::from(b.max) - self.o) * self.inv_d;
        let near = t0.min(t1).max_element().max(t_min);
        let far = t0.max(t1).min_element().min(t_max);
        (near <= far).then_some(near)
    }

    /// The same test with AVX: eight lanes in one register per bound row. Inlined
    /// into traversals with the `V3` marker, run with the features enabled.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    #[inline]
    fn enter_children_avx(&self, n: &WideNode, t_min: f32, t_max: f32) -> (u32, [f32; WIDTH]) {
        use std::arch::x86_64::*;
        let [nx, ny, nz] = self.near;
        // SAFETY: AVX is enabled for this function; the loads read the node's rows,
        // eight f32 each, in bounds (row indices are at most 5), and the store writes
        // the eight f32 of `out`.
        unsafe {
            let row = |r: usize| _mm256_loadu_ps(n.bounds[r].as_ptr());
            let slab = |r: usize, o: f32, inv: f32| {
                _mm256_mul_ps(
                    _mm256_sub_ps(row(r), _mm256_set1_ps(o)),
                    _mm256_set1_ps(inv),
                )
            };
            let (ox, oy, oz) = (self.o.x, self.o.y, self.o.z);
            let (ix, iy, iz) = (self.inv_d.x, self.inv_d.y, self.inv_d.z);
            let near = _mm256_max_ps(
                _mm256_max_ps(slab(nx, ox, ix), slab(ny, oy, iy)),
                _mm256_max_ps(slab(nz, oz, iz), _mm256_set1_ps(t_min)),
            );
            let far = _mm256_min_ps(
                _mm256_min_ps(slab(nx ^ 1, ox, ix), slab(ny ^ 1, oy, iy)),
                _mm256_min_ps(slab(nz ^ 1, oz, iz), _mm256_set1_ps(t_max)),
            );
            let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(near, far)) as u32;
            let mut out = [0.0f32; WIDTH];
            _mm256_storeu_ps(out.as_mut_ptr(), near);
            (mask, out)
        }
    }

    /// Tests all of a node's children: a bit mask of those the ray enters within
    /// (t_min, t_max), and the entry distances. Plain code, for processors without
    /// AVX (and `STREAMTRACER_PORTABLE`).
    #[inline(always)]
    fn enter_children_portable(&self, n: &WideNode, t_min: f32, t_max: f32) -> (u32, [f32; WIDTH]) {
        let [nx, ny, nz] = self.near;
        let (o, inv) = (self.o, self.inv_d);
        let b = &n.bounds;
        let mut near = [0.0f32; WIDTH];
        let mut mask = 0u32;
        for (i, near) in near.iter_mut().enumerate() {
            let t0 = (Vec3A::new(b[nx][i], b[ny][i], b[nz][i]) - o) * inv;
            let t1 = (Vec3A::new(b[nx ^ 1][i], b[ny ^ 1][i], b[nz ^ 1][i]) - o) * inv;
            *near = t0.max_element().max(t_min);
            let far = t1.min_element().min(t_max);
            mask |= u32::from(*near <= far) << i;
        }
        (mask, near)
    }
}

/// A child waiting on the traversal stack, with the distance at which the ray
/// enters its box.
#[derive(Clone, Copy)]
struct Entry {
    child: u32,
    count: u32,
    t: f32,
}

struct BuildPrim {
    bounds: Aabb,
    centroid: Vec3,
    index: u32,
}

impl Bvh {
    /// An unused position in [`Bvh::order`].
    pub const PAD: u32 = u32::MAX;

    /// Builds a hierarchy over `bounds` (one box per primitive) with leaves of up
    /// to four primitives, each leaf starting at a multiple of four in the order
    /// (the positions between leaves are [`Bvh::PAD`]).
    pub fn build(bounds: &[Aabb]) -> Bvh {
        Self::build_with(bounds, MAX_LEAF, LEAF_ALIGN)
    }

    /// Builds a hierarchy with one primitive per leaf: for the top level, where
    /// each leaf is an instance with a hierarchy of its own, so that each gets its
    /// own box test (and small instances can skip theirs).
    pub fn build_instances(bounds: &[Aabb]) -> Bvh {
        Self::build_with(bounds, 1, 1)
    }

    fn build_with(bounds: &[Aabb], max_leaf: usize, align: usize) -> Bvh {
        let mut prims: Vec<BuildPrim> = bounds
            .iter()
            .enumerate()
            .map(|(i, b)| BuildPrim {
                bounds: *b,
                centroid: b.centroid(),
                index: i as u32,
            })
            .collect();
        let mut binary = if prims.is_empty() {
            Vec::new()
        } else {
            build_subtree(&mut prims, 0, 0, max_leaf)
        };
        let order: Vec<u32> = prims.iter().map(|p| p.index).collect();
        let order = if align > 1 {
            pad_leaves(&mut binary, &order, align)
        } else {
            order
        };
        let mut nodes = Vec::with_capacity(binary.len() / 4 + 1);
        let mut small = 0;
        if let Some(root) = binary.first() {
            if root.count() as usize <= max_leaf && root.count() > 0 {
                small = root.count();
            } else if root.count() > 0 {
                // One large leaf (primitives that no split separates): a root with
                // one child, so that its box is tested first.
                nodes.push(wide_node(&binary, &[0]));
            } else {
                collapse(&binary, 0, &mut nodes);
            }
        }
        Bvh {
            nodes,
            small,
            bounds: binary.first().map_or(Aabb::EMPTY, Node::bounds),
            order,
        }
    }

    /// Primitive indices in leaf order: store primitive `order[i]` at position `i`
    /// (positions holding [`Bvh::PAD`] belong to no primitive).
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The box around everything.
    pub fn bounds(&self) -> Aabb {
        self.bounds
    }

    /// Visits leaves front to back. `leaf(first, count, t_max)` tests the `count`
    /// primitives stored from position `first` (in [`Bvh::order`]) and returns the
    /// closest hit distance below `t_max` if it found one, which then bounds the rest
    /// of the traversal. `prefetch(first)` announces a leaf that may be tested soon.
    /// Returns whether anything hit. With `any` set, stops at the first hit (for
    /// shadow rays).
    ///
    /// The node test's code paths (AVX or portable, `crate::cpu`) are chosen once per
    /// traversal: the whole loop is compiled for each, with the node test inlined.
    /// (`Accel` chooses once per ray query instead and calls [`Bvh::traverse_in`] from
    /// a function compiled with the features, so that its leaf tests get them too.)
    #[inline]
    pub fn traverse(
        &self,
        ray: &RayBoxTest,
        t_min: f32,
        t_max: f32,
        any: bool,
        prefetch: impl Fn(u32),
        leaf: impl FnMut(u32, u32, f32) -> Option<f32>,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = V3::detect() {
            // SAFETY: `V3::detect` found the x86-64-v3 features.
            return unsafe { self.traverse_v3(isa, ray, t_min, t_max, any, prefetch, leaf) };
        }
        self.traverse_in(Portable, ray, t_min, t_max, any, prefetch, leaf)
    }

    /// [`Bvh::traverse_in`] compiled with the x86-64-v3 features.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    #[allow(clippy::too_many_arguments, reason = "traverse's, plus the marker")]
    fn traverse_v3(
        &self,
        isa: V3,
        ray: &RayBoxTest,
        t_min: f32,
        t_max: f32,
        any: bool,
        prefetch: impl Fn(u32),
        leaf: impl FnMut(u32, u32, f32) -> Option<f32>,
    ) -> bool {
        self.traverse_in(isa, ray, t_min, t_max, any, prefetch, leaf)
    }

    /// [`Bvh::traverse`] with the node test of `isa`, inlined into the caller: called
    /// from a function compiled with `isa`'s features, the whole loop (and the leaf
    /// closure) is compiled with them.
    #[allow(clippy::too_many_arguments, reason = "traverse's, plus the marker")]
    #[inline(always)]
    pub(crate) fn traverse_in<I: Isa>(
        &self,
        _isa: I,
        ray: &RayBoxTest,
        t_min: f32,
        t_max: f32,
        any: bool,
        prefetch: impl Fn(u32),
        leaf: impl FnMut(u32, u32, f32) -> Option<f32>,
    ) -> bool {
        self.traverse_with(
            ray,
            t_min,
            t_max,
            any,
            prefetch,
            leaf,
            #[inline(always)]
            |ray, node, t_min, t_max| I::enter_children(ray, node, t_min, t_max),
        )
    }

    /// The traversal loop, with `enter(ray, node, t_min, t_max)` testing a node's
    /// children (as `RayBoxTest::enter_children_portable` does).
    #[allow(clippy::too_many_arguments, reason = "traverse's, plus the node test")]
    #[inline(always)]
    fn traverse_with(
        &self,
        ray: &RayBoxTest,
        t_min: f32,
        mut t_max: f32,
        any: bool,
        prefetch: impl Fn(u32),
        mut leaf: impl FnMut(u32, u32, f32) -> Option<f32>,
        enter: impl Fn(&RayBoxTest, &WideNode, f32, f32) -> (u32, [f32; WIDTH]),
    ) -> bool {
        if !ray.valid {
            return false;
        }
        if self.small > 0 {
            return leaf(0, self.small, t_max).is_some();
        }
        if self.nodes.is_empty() {
            return false;
        }
        let mut hit = false;
        // Every entry below `sp` is written before it is read; leaving the rest
        // uninitialised saves clearing a few kilobytes per ray.
        let mut stack = [std::mem::MaybeUninit::<Entry>::uninit(); STACK];
        let mut sp = 0usize;
        let mut current = Entry {
            child: 0,
            count: 0,
            t: t_min,
        };
        loop {
            if current.count > 0 {
                if let Some(t) = leaf(current.child, current.count, t_max) {
                    t_max = t;
                    hit = true;
                    if any {
                        return true;
                    }
                }
            } else {
                let node = &self.nodes[current.child as usize];
                let (mut mask, near) = enter(ray, node, t_min, t_max);
                if mask != 0 {
                    let entry = |lane: usize| {
                        let e = Entry {
                            child: node.child[lane],
                            count: node.count[lane],
                            t: near[lane],
                        };
                        // Start fetching what the child needs now: its memory
                        // arrives while the ray works on nearer children.
                        if e.count == 0 {
                            prefetch_node(&self.nodes, e.child);
                        } else {
                            prefetch(e.child);
                        }
                        e
                    };
                    let first = entry(mask.trailing_zeros() as usize);
                    mask &= mask - 1;
                    if mask == 0 {
                        // One child entered (the common case deep in the tree).
                        current = first;
                        continue;
                    }
                    if any {
                        // Any hit will do: no order needed.
                        stack[sp] = std::mem::MaybeUninit::new(first);
                        sp += 1;
                        while mask & (mask - 1) != 0 {
                            stack[sp] =
                                std::mem::MaybeUninit::new(entry(mask.trailing_zeros() as usize));
                            sp += 1;
                            mask &= mask - 1;
                        }
                        current = entry(mask.trailing_zeros() as usize);
                        continue;
                    }
                    // Sort the entered children far to near; push all but the
                    // nearest, which is visited next.
                    let mut sorted = [first; WIDTH];
                    let mut k = 1;
                    while mask != 0 {
                        let e = entry(mask.trailing_zeros() as usize);
                        mask &= mask - 1;
                        let mut j = k;
                        while j > 0 && sorted[j - 1].t < e.t {
                            sorted[j] = sorted[j - 1];
                            j -= 1;
                        }
                        sorted[j] = e;
                        k += 1;
                    }
                    for e in &sorted[..k - 1] {
                        stack[sp] = std::mem::MaybeUninit::new(*e);
                        sp += 1;
                    }
                    current = sorted[k - 1];
                    continue;
                }
            }
            // Pop until a child the ray enters before the closest hit so far.
            loop {
                if sp == 0 {
                    return hit;
                }
                sp -= 1;
                // SAFETY: entries below `sp` were all written by the pushes above.
                let e = unsafe { stack[sp].assume_init() };
                if e.t <= t_max {
                    current = e;
                    break;
                }
            }
        }
    }
}

/// Moves every leaf of `binary` to a position that is a multiple of `align`, and
/// returns the order with [`Bvh::PAD`] in the gaps. Leaves cover the order without
/// gaps or overlaps, so one sweep over the positions finds them in order.
fn pad_leaves(binary: &mut [Node], order: &[u32], align: usize) -> Vec<u32> {
    let mut leaf_at = vec![u32::MAX; order.len()];
    for (i, node) in binary.iter().enumerate() {
        if node.count() > 0 {
            leaf_at[node.first() as usize] = i as u32;
        }
    }
    let mut padded = Vec::with_capacity(order.len() * 3 / 2);
    let mut position = 0;
    while position < order.len() {
        let leaf = &mut binary[leaf_at[position] as usize];
        let count = leaf.count() as usize;
        leaf.set_first(padded.len() as u32);
        padded.extend_from_slice(&order[position..position + count]);
        padded.resize(padded.len().next_multiple_of(align), Bvh::PAD);
        position += count;
    }
    padded
}

/// Asks the processor to start loading a node's four cache lines.
#[inline(always)]
fn prefetch_node(nodes: &[WideNode], index: u32) {
    if let Some(node) = nodes.get(index as usize) {
        prefetch_lines(node);
    }
}

/// Asks the processor to start loading every cache line `value` touches (for
/// values up to 256 bytes; the count of lines is known when compiling, so this
/// unrolls into a few instructions).
#[inline(always)]
pub fn prefetch_lines<T>(value: &T) {
    const { assert!(std::mem::size_of::<T>() <= 256) };
    let start = (value as *const T).cast::<u8>();
    let size = std::mem::size_of::<T>();
    // Lines at 64-byte steps from the start, and the line of the last byte (which
    // for a value not aligned to 64 can be one more).
    for offset in (0..size).step_by(64) {
        prefetch_address(start.wrapping_add(offset));
    }
    if std::mem::align_of::<T>() < 64 && size > 0 {
        prefetch_address(start.wrapping_add(size - 1));
    }
}

/// Asks the processor to start loading the cache line that holds `value`.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_address((value as *const T).cast());
}

#[inline(always)]
fn prefetch_address(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and has no effect on the
    // program's state, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Collapses the binary subtree under inner node `root` into wide nodes appended to
/// `nodes` (this one first, then its descendants depth first). Returns its index.
fn collapse(binary: &[Node], root: usize, nodes: &mut Vec<WideNode>) -> u32 {
    // Open the largest inner node among the gathered ones until there are WIDTH.
    let first = binary[root].first() as usize;
    let mut gathered = vec![first, first + 1];
    while gathered.len() < WIDTH {
        let widest = gathered
            .iter()
            .enumerate()
            .filter(|(_, &n)| binary[n].count() == 0)
            .max_by(|a, b| {
                let area = |n: usize| binary[n].bounds().area();
                area(*a.1).total_cmp(&area(*b.1))
            })
            .map(|(i, _)| i);
        let Some(widest) = widest else { break };
        let n = gathered.swap_remove(widest);
        let first = binary[n].first() as usize;
        gathered.extend([first, first + 1]);
    }
    let index = nodes.len();
    nodes.push(wide_node(binary, &gathered));
    let children: Vec<u32> = gathered
        .iter()
        .map(|&n| {
            if binary[n].count() > 0 {
                binary[n].first()
            } else {
                collapse(binary, n, nodes)
            }
        })
        .collect();
    nodes[index].child[..children.len()].copy_from_slice(&children);
    index as u32
}

/// A wide node over the binary nodes `lanes`; the caller fills in the node indices
/// of inner children.
fn wide_node(binary: &[Node], lanes: &[usize]) -> WideNode {
    let mut node = WideNode {
        bounds: [[0.0; WIDTH]; 6],
        child: [0; WIDTH],
        count: [0; WIDTH],
    };
    for lane in 0..WIDTH {
        let (b, count) = match lanes.get(lane) {
            Some(&n) => (binary[n].bounds(), binary[n].count()),
            None => (Aabb::EMPTY, 0),
        };
        for axis in 0..3 {
            node.bounds[2 * axis][lane] = b.min[axis];
            node.bounds[2 * axis + 1][lane] = b.max[axis];
        }
        node.count[lane] = count;
        if count > 0 {
            node.child[lane] = binary[lanes[lane]].first();
        }
    }
    node
}

/// Builds the subtree over `prims` (whose first primitive is at `offset` in the whole
/// order). Returns its nodes with the subtree's root at index 0.
fn build_subtree(
    prims: &mut [BuildPrim],
    offset: usize,
    depth: usize,
    max_leaf: usize,
) -> Vec<Node> {
    let mut bounds = Aabb::EMPTY;
    let mut cbounds = Aabb::EMPTY;
    for p in prims.iter() {
        bounds.grow(&p.bounds);
        cbounds.grow_point(p.centroid);
    }
    let len = prims.len();
    let leaf = vec![Node::new(&bounds, offset as u32, len as u32)];
    if len <= max_leaf || depth + 1 >= MAX_DEPTH {
        return leaf;
    }
    let Some((axis, split)) = best_split(prims, &bounds, &cbounds, max_leaf) else {
        return leaf;
    };
    let bin = binner(&cbounds, axis);
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
            || build_subtree(lp, offset, depth + 1, max_leaf),
            || build_subtree(rp, offset + left, depth + 1, max_leaf),
        )
    } else {
        (
            build_subtree(lp, offset, depth + 1, max_leaf),
            build_subtree(rp, offset + left, depth + 1, max_leaf),
        )
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

/// The bin of a primitive's centroid along `axis`: the split search and the
/// partition that follows must agree, so both use this.
fn binner(cbounds: &Aabb, axis: usize) -> impl Fn(&BuildPrim) -> usize {
    let (min, scale) = (
        cbounds.min[axis],
        BINS as f32 / (cbounds.max[axis] - cbounds.min[axis]),
    );
    move |p| (((p.centroid[axis] - min) * scale) as usize).min(BINS - 1)
}

/// The cheapest split by the surface area heuristic: (axis, first bin of the right
/// side), or `None` when no split beats a leaf.
fn best_split(
    prims: &[BuildPrim],
    bounds: &Aabb,
    cbounds: &Aabb,
    max_leaf: usize,
) -> Option<(usize, usize)> {
    let mut best: Option<(f32, usize, usize)> = None;
    for axis in 0..3 {
        let extent = cbounds.max[axis] - cbounds.min[axis];
        if extent <= 1e-12 {
            continue;
        }
        let bin = binner(cbounds, axis);
        let mut bins = [(Aabb::EMPTY, 0usize); BINS];
        for p in prims {
            let b = bin(p);
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
            // Leaves are tested a pack of `max_leaf` at a time: a side costs whole packs.
            let packs = |n: usize| n.div_ceil(max_leaf) as f32;
            let cost = acc.area() * packs(count) + right_area[i + 1] * packs(right_count[i + 1]);
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, axis, i + 1));
            }
        }
    }
    let (cost, axis, split) = best?;
    // A node costs about one primitive test to traverse; split only when that pays,
    // and always split large sets so leaves stay small.
    let leaf_cost = bounds.area() * prims.len().div_ceil(max_leaf) as f32;
    if cost + bounds.area() >= leaf_cost && max_leaf > 1 && prims.len() <= 16 {
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
        ray.enter(b, 0.0, t_max)
    }

    /// The AVX box test (on a processor that has AVX, whether or not
    /// `STREAMTRACER_PORTABLE` is set) and the plain one agree on which children a
    /// ray enters and where; unused lanes are never entered.
    #[test]
    fn simd_and_portable_child_tests_agree() {
        #[cfg(target_arch = "x86_64")]
        let simd = std::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let simd = false;
        println!(
            "comparing {} with portable",
            if simd { "AVX" } else { "portable" }
        );
        let enter_children = |ray: &RayBoxTest, node: &WideNode, t_min: f32, t_max: f32| {
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: the processor has AVX (checked above).
                return unsafe { ray.enter_children_avx(node, t_min, t_max) };
            }
            ray.enter_children_portable(node, t_min, t_max)
        };
        let mut rng = SampleRng::for_sample(2, 3, 4, 11);
        let bvh = Bvh::build(&boxes(300, 3));
        assert!(bvh.nodes.len() > 10);
        let mut entered = 0;
        for _ in 0..2000 {
            let o = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::ONE;
            let ray = RayBoxTest::new(o, uniform_sphere(rng.uniform(), rng.uniform()));
            let node = &bvh.nodes[(rng.uniform() * bvh.nodes.len() as f32) as usize];
            let t_max = rng.uniform() * 20.0;
            let (mask, near) = enter_children(&ray, node, 0.0, t_max);
            let (mask_p, near_p) = ray.enter_children_portable(node, 0.0, t_max);
            assert_eq!(mask, mask_p);
            for lane in (0..WIDTH).filter(|lane| mask & (1 << lane) != 0) {
                assert!((near[lane] - near_p[lane]).abs() <= 1e-5 * near[lane].abs().max(1.0));
                let row = |r: usize| node.bounds[r][lane];
                let lane_box = Aabb {
                    min: Vec3::new(row(0), row(2), row(4)),
                    max: Vec3::new(row(1), row(3), row(5)),
                };
                assert!(!lane_box.is_empty(), "an unused lane was entered");
                assert!(hit_box(&lane_box, &ray, t_max).is_some());
            }
            entered += mask.count_ones();
        }
        assert!(entered > 40, "the rays enter some children ({entered})");
    }

    /// Rays with NaN or infinite components, or no direction, hit nothing. Before
    /// the check, a NaN ray entered every lane of every node, unused ones included
    /// (which point back at the root), until the traversal stack overflowed.
    #[test]
    fn degenerate_rays_hit_nothing() {
        let bvh = Bvh::build(&boxes(2000, 4));
        let nan = Vec3::new(f32::NAN, 1.0, 0.0);
        let inf = Vec3::new(f32::INFINITY, 0.0, 0.0);
        let good_o = Vec3::splat(5.0);
        for (o, d) in [
            (good_o, nan),
            (nan, Vec3::X),
            (inf, Vec3::X),
            (good_o, inf),
            (good_o, Vec3::ZERO),
        ] {
            let ray = RayBoxTest::new(o, d);
            for any in [false, true] {
                let mut tested = 0;
                let hit = bvh.traverse(
                    &ray,
                    0.0,
                    f32::INFINITY,
                    any,
                    |_| {},
                    |_, _, _| {
                        tested += 1;
                        Some(1.0)
                    },
                );
                assert!(!hit && tested == 0, "{o} {d} any={any}: {tested} leaves");
            }
        }
        // The same origin with a real direction does hit (the tree is not empty).
        let ray = RayBoxTest::new(good_o, Vec3::new(0.3, 0.2, 0.1));
        assert!(bvh.traverse(&ray, 0.0, f32::INFINITY, true, |_| {}, |_, _, _| Some(1.0)));
    }

    /// Front-to-back traversal must find the nearest box, exactly as testing all of
    /// them does: for trees built sequentially and in parallel, with padded leaves of
    /// up to four and with one primitive per leaf, and for boxes no split separates.
    #[test]
    fn nearest_hit_matches_brute_force() {
        let mut same = boxes(40, 9);
        same.iter_mut().for_each(|b| *b = same_centroid(b));
        let sets = [1, 7, 300, 10_000].map(|n| boxes(n, n as u64));
        for (b, instances) in sets
            .iter()
            .chain([&same])
            .flat_map(|b| [(b, false), (b, true)])
        {
            let n = b.len();
            let bvh = if instances {
                Bvh::build_instances(b)
            } else {
                Bvh::build(b)
            };
            let mut seen: Vec<u32> = bvh
                .order()
                .iter()
                .copied()
                .filter(|&i| i != Bvh::PAD)
                .collect();
            seen.sort_unstable();
            assert!(
                seen.iter().enumerate().all(|(i, &v)| v as usize == i) && seen.len() == n,
                "order is a permutation plus padding"
            );
            let ordered: Vec<Option<Aabb>> = bvh
                .order()
                .iter()
                .map(|&i| (i != Bvh::PAD).then(|| b[i as usize]))
                .collect();
            let mut rng = SampleRng::for_sample(1, 1, 1, 7);
            for _ in 0..500 {
                let o = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::ONE;
                let ray = RayBoxTest::new(o, uniform_sphere(rng.uniform(), rng.uniform()));
                let brute = b
                    .iter()
                    .filter_map(|x| hit_box(x, &ray, f32::INFINITY))
                    .min_by(f32::total_cmp);
                let mut best = None;
                let any = bvh.traverse(
                    &ray,
                    0.0,
                    f32::INFINITY,
                    false,
                    |_| {},
                    |first, count, t_max| {
                        if !instances {
                            assert_eq!(first % 4, 0, "leaves start at a pack");
                        }
                        let leaf = &ordered[first as usize..(first + count) as usize];
                        assert!(leaf.iter().all(Option::is_some), "no padding inside a leaf");
                        let t = leaf
                            .iter()
                            .filter_map(|x| hit_box(x.as_ref()?, &ray, t_max))
                            .min_by(f32::total_cmp)?;
                        best = Some(t);
                        Some(t)
                    },
                );
                assert_eq!(any, brute.is_some());
                assert_eq!(best, brute);
                // Shadow rays: stop at any hit, children in no particular order.
                let mut tested = 0;
                let blocked = bvh.traverse(
                    &ray,
                    0.0,
                    f32::INFINITY,
                    true,
                    |_| {},
                    |first, count, t_max| {
                        tested += 1;
                        ordered[first as usize..(first + count) as usize]
                            .iter()
                            .find_map(|x| hit_box(x.as_ref()?, &ray, t_max))
                    },
                );
                assert_eq!(blocked, brute.is_some());
                assert!(!blocked || tested > 0);
            }
        }
    }

    /// The box grown around (2, 2, 2), so that every such box has the same centroid.
    fn same_centroid(b: &Aabb) -> Aabb {
        let h = (b.max - b.min) * 0.5;
        Aabb {
            min: Vec3::splat(2.0) - h,
            max: Vec3::splat(2.0) + h,
        }
    }
}
