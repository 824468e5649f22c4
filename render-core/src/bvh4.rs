//! A four-wide hierarchy collapsed from the binary one, for traversal.
//!
//! Each node holds the boxes of up to four children in structure-of-arrays form, so
//! one set of SIMD operations tests all four, and the children's nodes are fetched
//! only when their boxes are hit. Compared with the binary tree this halves the depth
//! and the number of dependent memory loads per ray, which is what bounds incoherent
//! rays in large meshes.

use crate::bvh::{Aabb, Bvh, RayBoxTest};
use glam::Vec4;

/// A child slot: an inner node, a leaf (a range of primitives) or nothing.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Empty,
    Inner(u32),
    Leaf { first: u32, count: u32 },
}

/// Stack and slot encoding: leaves have this bit set, and their primitive range
/// packed as `first << LEAF_COUNT_BITS | count` (leaves hold at most 16 primitives,
/// and `first` must stay below 2^26).
const LEAF: u32 = 1 << 31;
const LEAF_COUNT_BITS: u32 = 5;
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
struct Node4 {
    min_x: Vec4,
    min_y: Vec4,
    min_z: Vec4,
    max_x: Vec4,
    max_y: Vec4,
    max_z: Vec4,
    /// Per slot: `EMPTY`, an inner node index, or `LEAF | first << 5 | count`.
    child: [u32; 4],
}

/// The four-wide hierarchy. Primitive positions are those of the binary hierarchy's
/// [`Bvh::order`].
pub struct Bvh4 {
    nodes: Vec<Node4>,
    root: Slot,
    bounds: Aabb,
}

fn encode(slot: Slot) -> u32 {
    match slot {
        Slot::Empty => EMPTY,
        Slot::Inner(i) => i,
        Slot::Leaf { first, count } => {
            debug_assert!(count < 1 << LEAF_COUNT_BITS && first < 1 << (31 - LEAF_COUNT_BITS));
            LEAF | first << LEAF_COUNT_BITS | count
        }
    }
}

impl Bvh4 {
    /// Collapses `bvh`: every wide node gathers up to four descendants of a binary
    /// node, always opening the largest inner child first.
    pub fn from_binary(bvh: &Bvh) -> Bvh4 {
        let mut nodes = Vec::with_capacity(bvh.node_count() / 2 + 1);
        let root = if bvh.node_count() == 0 {
            Slot::Empty
        } else {
            collapse(bvh, 0, &mut nodes)
        };
        Bvh4 {
            nodes,
            root,
            bounds: bvh.bounds(),
        }
    }

    pub fn bounds(&self) -> Aabb {
        self.bounds
    }

    /// Same contract as [`Bvh::traverse`].
    #[inline]
    pub fn traverse(
        &self,
        ray: &RayBoxTest,
        t_min: f32,
        mut t_max: f32,
        any: bool,
        mut leaf: impl FnMut(u32, f32) -> Option<f32>,
    ) -> bool {
        let root = encode(self.root);
        if root == EMPTY || ray.enter_box(&self.bounds, t_min, t_max).is_none() {
            return false;
        }
        let (o, inv) = ray.parts();
        let (ox, oy, oz) = (Vec4::splat(o.x), Vec4::splat(o.y), Vec4::splat(o.z));
        let (ix, iy, iz) = (Vec4::splat(inv.x), Vec4::splat(inv.y), Vec4::splat(inv.z));
        let t_min4 = Vec4::splat(t_min);
        let mut hit = false;
        let mut stack = [(0u32, 0f32); 96];
        stack[0] = (root, t_min);
        let mut sp = 1usize;
        while sp > 0 {
            sp -= 1;
            let (entry, t_near) = stack[sp];
            if t_near > t_max {
                continue;
            }
            if entry & LEAF != 0 {
                let first = (entry & !LEAF) >> LEAF_COUNT_BITS;
                let count = entry & ((1 << LEAF_COUNT_BITS) - 1);
                for i in first..first + count {
                    if let Some(t) = leaf(i, t_max) {
                        t_max = t;
                        hit = true;
                        if any {
                            return true;
                        }
                    }
                }
                continue;
            }
            let n = &self.nodes[entry as usize];
            let (tx0, tx1) = ((n.min_x - ox) * ix, (n.max_x - ox) * ix);
            let (ty0, ty1) = ((n.min_y - oy) * iy, (n.max_y - oy) * iy);
            let (tz0, tz1) = ((n.min_z - oz) * iz, (n.max_z - oz) * iz);
            let near = tx0.min(tx1).max(ty0.min(ty1)).max(tz0.min(tz1)).max(t_min4);
            let far = tx0
                .max(tx1)
                .min(ty0.max(ty1))
                .min(tz0.max(tz1))
                .min(Vec4::splat(t_max));
            let mask = near.cmple(far).bitmask();
            if mask == 0 {
                continue;
            }
            // Push the hit children far to near, so the nearest is taken next.
            let near = near.to_array();
            let mut order = [(0u32, 0f32); 4];
            let mut k = 0;
            for lane in 0..4 {
                if mask & (1 << lane) != 0 && n.child[lane] != EMPTY {
                    let mut j = k;
                    while j > 0 && order[j - 1].1 < near[lane] {
                        order[j] = order[j - 1];
                        j -= 1;
                    }
                    order[j] = (n.child[lane], near[lane]);
                    k += 1;
                }
            }
            stack[sp..sp + k].copy_from_slice(&order[..k]);
            sp += k;
        }
        hit
    }
}

fn collapse(bvh: &Bvh, binary_root: usize, nodes: &mut Vec<Node4>) -> Slot {
    if let Some((first, count)) = bvh.leaf(binary_root) {
        return Slot::Leaf { first, count };
    }
    // Gather up to four descendants, opening the largest inner one each time.
    let mut open: Vec<usize> = bvh.children(binary_root).into();
    while open.len() < 4 {
        let Some(widest) = open
            .iter()
            .enumerate()
            .filter(|(_, &n)| bvh.leaf(n).is_none())
            .max_by(|a, b| bvh.node_area(*a.1).total_cmp(&bvh.node_area(*b.1)))
            .map(|(i, _)| i)
        else {
            break;
        };
        let n = open.swap_remove(widest);
        open.extend(bvh.children(n));
    }
    let index = nodes.len();
    let empty = Vec4::splat(f32::INFINITY);
    nodes.push(Node4 {
        min_x: empty,
        min_y: empty,
        min_z: empty,
        max_x: -empty,
        max_y: -empty,
        max_z: -empty,
        child: [EMPTY; 4],
    });
    let mut slots = [Slot::Empty; 4];
    let mut boxes = [Aabb::EMPTY; 4];
    for (lane, &n) in open.iter().enumerate() {
        boxes[lane] = bvh.node_bounds(n);
        slots[lane] = collapse(bvh, n, nodes);
    }
    let node = &mut nodes[index];
    let lanes = |f: fn(&Aabb) -> f32| Vec4::from_array(boxes.map(|b| f(&b)));
    node.min_x = lanes(|b| b.min.x);
    node.min_y = lanes(|b| b.min.y);
    node.min_z = lanes(|b| b.min.z);
    node.max_x = lanes(|b| b.max.x);
    node.max_y = lanes(|b| b.max.y);
    node.max_z = lanes(|b| b.max.z);
    node.child = slots.map(encode);
    Slot::Inner(index as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{uniform_sphere, SampleRng};
    use glam::Vec3;

    /// The wide hierarchy finds exactly what the binary one finds.
    #[test]
    fn wide_traversal_matches_binary_traversal() {
        let mut rng = SampleRng::for_sample(0, 0, 0, 5);
        for n in [1usize, 3, 5, 40, 20_000] {
            let boxes: Vec<Aabb> = (0..n)
                .map(|_| {
                    let c = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 10.0;
                    let h = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 0.2;
                    Aabb {
                        min: c - h,
                        max: c + h,
                    }
                })
                .collect();
            let bvh = Bvh::build(&boxes);
            let wide = Bvh4::from_binary(&bvh);
            let ordered: Vec<Aabb> = bvh.order().iter().map(|&i| boxes[i as usize]).collect();
            for _ in 0..500 {
                let o = Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::ONE;
                let ray = RayBoxTest::new(o, uniform_sphere(rng.uniform(), rng.uniform()));
                let run = |use_wide: bool| {
                    let mut best = None;
                    let test = |i: u32, t_max: f32| ray.enter_box(&ordered[i as usize], 0.0, t_max);
                    let hit = if use_wide {
                        wide.traverse(&ray, 0.0, f32::INFINITY, false, |i, t| {
                            test(i, t).inspect(|&t| best = Some(t))
                        })
                    } else {
                        bvh.traverse(&ray, 0.0, f32::INFINITY, false, |i, t| {
                            test(i, t).inspect(|&t| best = Some(t))
                        })
                    };
                    (hit, best)
                };
                assert_eq!(run(true), run(false));
            }
        }
    }
}
