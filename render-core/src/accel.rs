//! The scene's two-level acceleration structure.
//!
//! Each mesh and each sphere is a *geometry* with its own bottom-level hierarchy in
//! its own coordinates; each object is an *instance*: a geometry, a transform and a
//! material. A top-level hierarchy over the instances' world boxes finds candidate
//! instances, and rays are carried into an instance's coordinates (without
//! normalising, so distances stay in world units). Moving an object changes its
//! transform and rebuilds only the top level; geometries are shared through `Arc`s
//! and reused by [`Accel::build`] when their mesh is unchanged.
//!
//! Length: About 540 lines of code (and 170 of tests) because the two levels and the
//! per-query code-path choice must agree on one instance layout.

#[cfg(target_arch = "x86_64")]
use crate::bvh::V3;
use crate::bvh::{Aabb, Bvh, Isa, Portable, RayBoxTest};
use crate::geometry::{Ray, Sphere, Triangle, TrianglePack};
use crate::scene::{Mesh, Scene, Shape};
use glam::{Affine3A, Mat3A, Vec2, Vec3};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// A mesh ready for tracing: triangles in leaf order, four to a pack, and their
/// vertex attributes.
pub struct MeshGeometry {
    pub mesh: Arc<Mesh>,
    bvh: Bvh,
    /// Triangles in the hierarchy's (padded) leaf order: position `i` is lane
    /// `i % 4` of pack `i / 4`.
    packs: Vec<TrianglePack>,
    /// For each position, its triangle's index in `mesh.indices` ([`Bvh::PAD`] for
    /// padding) and its three vertex indices: what shading a hit reads first, in
    /// one 16-byte record.
    info: Vec<[u32; 4]>,
}

/// Something an instance can place.
pub enum Geometry {
    Mesh(MeshGeometry),
    Sphere(Sphere),
}

impl Geometry {
    /// Builds the bottom-level hierarchy of a mesh.
    pub fn mesh(mesh: Arc<Mesh>) -> Geometry {
        let all: Vec<Triangle> = mesh
            .indices
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| mesh.positions[i as usize]);
                Triangle::new(a, b, c)
            })
            .collect();
        let bounds: Vec<Aabb> = all.iter().map(Triangle::bounds).collect();
        let bvh = Bvh::build(&bounds);
        let order = bvh.order();
        let packs = order
            .chunks(TrianglePack::LANES)
            .map(|lanes| {
                let tris: Vec<Triangle> = lanes
                    .iter()
                    .filter(|&&i| i != Bvh::PAD)
                    .map(|&i| all[i as usize])
                    .collect();
                TrianglePack::new(&tris)
            })
            .collect();
        let info = order
            .iter()
            .map(|&i| {
                let [a, b, c] = mesh.indices.get(i as usize).copied().unwrap_or_default();
                [i, a, b, c]
            })
            .collect();
        Geometry::Mesh(MeshGeometry {
            mesh,
            bvh,
            packs,
            info,
        })
    }

    fn bounds(&self) -> Aabb {
        match self {
            Geometry::Mesh(m) => m.bvh.bounds(),
            Geometry::Sphere(s) => s.bounds(),
        }
    }

    pub fn triangle_count(&self) -> usize {
        match self {
            Geometry::Mesh(m) => m.mesh.indices.len(),
            Geometry::Sphere(_) => 0,
        }
    }
}

/// A geometry placed in the world.
pub struct Instance {
    pub geometry: Arc<Geometry>,
    pub object_to_world: Affine3A,
    world_to_object: Affine3A,
    /// Maps object-space normals to world space (inverse transpose of the linear part).
    normal_to_world: Mat3A,
    identity: bool,
    pub material: u32,
    /// Index of the object in the scene.
    pub object: u32,
}

/// Where a ray hit a surface, in world space.
#[derive(Clone, Copy, Debug)]
pub struct SurfaceHit {
    pub t: f32,
    pub p: Vec3,
    /// The geometric normal on the surface's front side (unit length).
    pub ng: Vec3,
    /// The interpolated shading normal, on the same side as `ng` (unit length).
    pub ns: Vec3,
    pub uv: Vec2,
    /// Whether the ray arrived on the front side.
    pub front: bool,
    pub material: u32,
    pub object: u32,
    /// The triangle's index in its mesh (0 for spheres).
    pub prim: u32,
}

/// The whole scene's geometry.
pub struct Accel {
    tlas: Bvh,
    /// Instances in the top-level leaf order.
    instances: Vec<Instance>,
}

/// A closest hit before its surface is worked out.
#[derive(Clone, Copy)]
struct RawHit {
    t: f32,
    instance: u32,
    /// Position of the triangle in the geometry's leaf order (unused for spheres).
    prim: u32,
    b1: f32,
    b2: f32,
}

impl Accel {
    /// Builds geometries for the scene (in parallel), reusing those of `previous`
    /// whose mesh is unchanged, and the top level over all objects. The scene must
    /// be valid.
    ///
    /// A mesh is recognised first as the very same `Arc` (what a scene built from the
    /// editable document hands over after an edit: a cheap pointer test, so a large
    /// scene's unchanged meshes cost nothing), then by comparing contents (a scene
    /// deserialised or loaded again holds equal meshes in new allocations).
    pub fn build(scene: &Scene, previous: Option<&Accel>) -> Accel {
        // Previous geometries by mesh address, and by size for the comparison of
        // contents, so that finding them stays linear in a scene of many meshes.
        // (Addresses as integers: raw pointers are not `Sync`, and the parallel build
        // below shares these maps.)
        let mut by_address: HashMap<usize, &Arc<Geometry>> = HashMap::new();
        let mut by_size: HashMap<(usize, usize), Vec<&MeshGeometry>> = HashMap::new();
        for inst in previous.into_iter().flat_map(|p| &p.instances) {
            if let Geometry::Mesh(m) = &*inst.geometry {
                // Instances share geometries; each is listed once.
                if by_address
                    .insert(Arc::as_ptr(&m.mesh) as usize, &inst.geometry)
                    .is_none()
                {
                    by_size
                        .entry((m.mesh.positions.len(), m.mesh.indices.len()))
                        .or_default()
                        .push(m);
                }
            }
        }
        let reusable = |mesh: &Arc<Mesh>| -> Option<Arc<Geometry>> {
            let found = by_address
                .get(&(Arc::as_ptr(mesh) as usize))
                .copied()
                .or_else(|| {
                    by_size
                        .get(&(mesh.positions.len(), mesh.indices.len()))?
                        .iter()
                        .find(|m| *m.mesh == **mesh)
                        .and_then(|m| by_address.get(&(Arc::as_ptr(&m.mesh) as usize)))
                        .copied()
                });
            found.map(Arc::clone)
        };
        // Only meshes some object uses are built.
        let mut used = vec![false; scene.meshes.len()];
        for o in &scene.objects {
            if let Shape::Mesh { mesh } = o.shape {
                used[mesh] = true;
            }
        }
        let mesh_geometries: Vec<Option<Arc<Geometry>>> = scene
            .meshes
            .par_iter()
            .zip(&used)
            .map(|(mesh, &used)| {
                used.then(|| {
                    reusable(mesh).unwrap_or_else(|| Arc::new(Geometry::mesh(Arc::clone(mesh))))
                })
            })
            .collect();
        let mut instances: Vec<Instance> = scene
            .objects
            .iter()
            .enumerate()
            .filter_map(|(index, object)| {
                let geometry = match object.shape {
                    Shape::Sphere { center, radius } => {
                        Arc::new(Geometry::Sphere(Sphere { center, radius }))
                    }
                    Shape::Mesh { mesh } => mesh_geometries[mesh].clone()?,
                };
                // A mesh without triangles has nothing to hit; left in, its empty box
                // would poison the top level's bounds and hide the whole scene.
                if geometry.bounds().is_empty() {
                    return None;
                }
                let m = object.transform.matrix();
                Some(Instance {
                    geometry,
                    object_to_world: m,
                    world_to_object: m.inverse(),
                    normal_to_world: m.matrix3.inverse().transpose(),
                    identity: object.transform.is_identity(),
                    material: object.material as u32,
                    object: index as u32,
                })
            })
            .collect();
        let bounds: Vec<Aabb> = instances
            .iter()
            .map(|i| i.geometry.bounds().transformed(&i.object_to_world))
            .collect();
        let tlas = Bvh::build_instances(&bounds);
        let mut slots: Vec<Option<Instance>> = instances.drain(..).map(Some).collect();
        let instances = tlas
            .order()
            .iter()
            .map(|&i| slots[i as usize].take().expect("order is a permutation"))
            .collect();
        Accel { tlas, instances }
    }

    /// The box around every object.
    pub fn bounds(&self) -> Aabb {
        self.tlas.bounds()
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn triangle_count(&self) -> usize {
        self.instances
            .iter()
            .map(|i| i.geometry.triangle_count())
            .sum()
    }

    #[inline(always)]
    fn local_ray(inst: &Instance, ray: &Ray) -> Ray {
        if inst.identity {
            *ray
        } else {
            Ray {
                o: inst.world_to_object.transform_point3(ray.o),
                d: inst.world_to_object.transform_vector3(ray.d),
            }
        }
    }

    /// Tests one instance; returns a closer hit if found. Inlined, with its bottom-level
    /// traversal and triangle tests, into the ray query compiled for `isa`.
    #[allow(clippy::too_many_arguments, reason = "the query's, plus the instance")]
    #[inline(always)]
    fn intersect_instance<I: Isa>(
        &self,
        isa: I,
        index: u32,
        ray: &Ray,
        world_test: &RayBoxTest,
        t_min: f32,
        t_max: f32,
        any: bool,
    ) -> Option<RawHit> {
        let inst = &self.instances[index as usize];
        let local = Self::local_ray(inst, ray);
        match &*inst.geometry {
            Geometry::Sphere(s) => s.intersect(&local, t_min, t_max).map(|t| RawHit {
                t,
                instance: index,
                prim: 0,
                b1: 0.0,
                b2: 0.0,
            }),
            Geometry::Mesh(m) => {
                // An untransformed instance shares the world ray's box test.
                let local_test;
                let test = if inst.identity {
                    world_test
                } else {
                    local_test = RayBoxTest::new(local.o, local.d);
                    &local_test
                };
                let mut best = None;
                // The closures are written at the call so that they can be marked
                // `#[inline(always)]`: compiled into the caller, with its features.
                m.bvh.traverse_in(
                    isa,
                    test,
                    t_min,
                    t_max,
                    any,
                    #[inline(always)]
                    |first: u32| {
                        if let Some(pack) = m.packs.get(first as usize / TrianglePack::LANES) {
                            crate::bvh::prefetch_lines(pack);
                        }
                    },
                    #[inline(always)]
                    |first: u32, count: u32, mut t_max: f32| {
                        // Leaves start at a pack; lanes past `count` are padding.
                        let (first, lanes) = (first as usize, TrianglePack::LANES);
                        let packs = first / lanes..(first + count as usize).div_ceil(lanes);
                        let mut found = None;
                        for p in packs {
                            if let Some((t, lane, b1, b2)) =
                                m.packs[p].intersect(&local, t_min, t_max)
                            {
                                t_max = t;
                                found = Some(t);
                                let prim = p * lanes + lane;
                                // Likely the hit to shade: fetch its record meanwhile.
                                if let Some(info) = m.info.get(prim) {
                                    crate::bvh::prefetch(info);
                                }
                                best = Some(RawHit {
                                    t,
                                    instance: index,
                                    prim: prim as u32,
                                    b1,
                                    b2,
                                });
                                if any {
                                    break;
                                }
                            }
                        }
                        found
                    },
                );
                best
            }
        }
    }

    /// The closest surface along `ray` within (t_min, t_max).
    ///
    /// The code paths (`crate::cpu`) are chosen once per query: the whole query (both
    /// levels of traversal, the triangle and sphere tests) is compiled for each.
    #[inline]
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<SurfaceHit> {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = V3::detect() {
            // SAFETY: `V3::detect` found the x86-64-v3 features.
            return unsafe { self.intersect_v3(isa, ray, t_min, t_max) };
        }
        self.intersect_in(Portable, ray, t_min, t_max)
    }

    /// [`Accel::intersect`] compiled with the x86-64-v3 features.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    fn intersect_v3(&self, isa: V3, ray: &Ray, t_min: f32, t_max: f32) -> Option<SurfaceHit> {
        self.intersect_in(isa, ray, t_min, t_max)
    }

    #[inline(always)]
    fn intersect_in<I: Isa>(
        &self,
        isa: I,
        ray: &Ray,
        t_min: f32,
        t_max: f32,
    ) -> Option<SurfaceHit> {
        let test = RayBoxTest::new(ray.o, ray.d);
        let mut best: Option<RawHit> = None;
        self.tlas.traverse_in(
            isa,
            &test,
            t_min,
            t_max,
            false,
            |_| {},
            #[inline(always)]
            |first, count, mut t_max| {
                let mut found = None;
                for i in first..first + count {
                    if let Some(hit) =
                        self.intersect_instance(isa, i, ray, &test, t_min, t_max, false)
                    {
                        t_max = hit.t;
                        found = Some(hit.t);
                        best = Some(hit);
                    }
                }
                found
            },
        );
        best.map(|h| self.surface(ray, h))
    }

    /// Whether anything blocks `ray` within (t_min, t_max); the code paths chosen
    /// once per query, as in [`Accel::intersect`].
    #[inline]
    pub fn occluded(&self, ray: &Ray, t_min: f32, t_max: f32) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = V3::detect() {
            // SAFETY: `V3::detect` found the x86-64-v3 features.
            return unsafe { self.occluded_v3(isa, ray, t_min, t_max) };
        }
        self.occluded_in(Portable, ray, t_min, t_max)
    }

    /// [`Accel::occluded`] compiled with the x86-64-v3 features.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
    fn occluded_v3(&self, isa: V3, ray: &Ray, t_min: f32, t_max: f32) -> bool {
        self.occluded_in(isa, ray, t_min, t_max)
    }

    #[inline(always)]
    fn occluded_in<I: Isa>(&self, isa: I, ray: &Ray, t_min: f32, t_max: f32) -> bool {
        let test = RayBoxTest::new(ray.o, ray.d);
        self.tlas.traverse_in(
            isa,
            &test,
            t_min,
            t_max,
            true,
            |_| {},
            #[inline(always)]
            |first, count, t_max| {
                // A plain loop: `find_map` would be a call to code compiled without
                // the caller's features.
                for i in first..first + count {
                    if let Some(hit) =
                        self.intersect_instance(isa, i, ray, &test, t_min, t_max, true)
                    {
                        return Some(hit.t);
                    }
                }
                None
            },
        )
    }

    /// Works out position, normals and texture coordinates of a hit.
    fn surface(&self, ray: &Ray, h: RawHit) -> SurfaceHit {
        let inst = &self.instances[h.instance as usize];
        let p = ray.o + ray.d * h.t;
        let to_world = |n: Vec3| -> Vec3 {
            if inst.identity {
                n.normalize()
            } else {
                (inst.normal_to_world * glam::Vec3A::from(n))
                    .normalize()
                    .into()
            }
        };
        let prim = match &*inst.geometry {
            Geometry::Mesh(m) => m.info[h.prim as usize][0],
            Geometry::Sphere(_) => 0,
        };
        let (ng, ns, uv) = match &*inst.geometry {
            Geometry::Sphere(s) => {
                let local_p = if inst.identity {
                    p
                } else {
                    inst.world_to_object.transform_point3(p)
                };
                let n_obj = (local_p - s.center) / s.radius;
                let n = to_world(n_obj);
                // Longitude and latitude, with v = 0 at the top (+y).
                let uv = Vec2::new(
                    0.5 + n_obj.z.atan2(n_obj.x) * std::f32::consts::FRAC_1_PI * 0.5,
                    n_obj.y.clamp(-1.0, 1.0).acos() * std::f32::consts::FRAC_1_PI,
                );
                (n, n, uv)
            }
            Geometry::Mesh(m) => {
                let lanes = TrianglePack::LANES;
                let tri = m.packs[h.prim as usize / lanes].triangle(h.prim as usize % lanes);
                let ng = to_world(tri.e1.cross(tri.e2));
                let [_, i0, i1, i2] = m.info[h.prim as usize].map(|i| i as usize);
                let b0 = 1.0 - h.b1 - h.b2;
                let ns = if m.mesh.normals.is_empty() {
                    ng
                } else {
                    let n = m.mesh.normals[i0] * b0
                        + m.mesh.normals[i1] * h.b1
                        + m.mesh.normals[i2] * h.b2;
                    let n = to_world(n);
                    // Keep the shading normal on the geometric front side.
                    if !n.is_finite() {
                        ng
                    } else if n.dot(ng) < 0.0 {
                        -n
                    } else {
                        n
                    }
                };
                let uv = if m.mesh.uvs.is_empty() {
                    Vec2::new(h.b1, h.b2)
                } else {
                    m.mesh.uvs[i0] * b0 + m.mesh.uvs[i1] * h.b1 + m.mesh.uvs[i2] * h.b2
                };
                (ng, ns, uv)
            }
        };
        SurfaceHit {
            t: h.t,
            p,
            ng,
            ns,
            uv,
            front: ray.d.dot(ng) < 0.0,
            material: inst.material,
            object: inst.object,
            prim,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Camera;
    use crate::sampling::{uniform_sphere, SampleRng};
    use crate::scene::{Material, Object, Transform};
    use glam::Quat;

    /// World-space triangles and object-space spheres, each with its object's index.
    type Flattened = (Vec<(Triangle, u32)>, Vec<(Sphere, u32)>);

    /// A scene of random triangles and spheres, each object moved by a random
    /// transform; and the same geometry flattened into world space by hand.
    fn scenes() -> (Scene, Flattened) {
        let mut rng = SampleRng::for_sample(0, 0, 0, 42);
        let mut u = move || rng.uniform();
        let mut scene = Scene::empty(Camera {
            eye: Vec3::Z,
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        });
        scene.materials.push(Material::Diffuse {
            albedo: Vec3::ONE,
            texture: None,
        });
        let (mut tris, mut spheres) = (Vec::new(), Vec::new());
        for o in 0..12u32 {
            let transform = Transform {
                translation: Vec3::new(u(), u(), u()) * 8.0,
                rotation: Quat::from_axis_angle(uniform_sphere(u(), u()), u() * 6.0),
                scale: Vec3::new(0.5 + u(), 0.5 + u(), 0.5 + u()),
            };
            let m = transform.matrix();
            if o % 3 == 0 {
                let s = Sphere {
                    center: Vec3::new(u(), u(), u()),
                    radius: 0.3 + u() * 0.5,
                };
                scene.objects.push(Object {
                    name: String::new(),
                    material: 0,
                    shape: Shape::Sphere {
                        center: s.center,
                        radius: s.radius,
                    },
                    transform,
                });
                spheres.push((s, o));
            } else {
                let mut mesh = Mesh::default();
                for _ in 0..200 {
                    let c = Vec3::new(u(), u(), u()) * 3.0;
                    let base = mesh.positions.len() as u32;
                    mesh.positions.push(c);
                    mesh.positions.push(c + uniform_sphere(u(), u()) * 0.4);
                    mesh.positions.push(c + uniform_sphere(u(), u()) * 0.4);
                    mesh.indices.push([base, base + 1, base + 2]);
                    let [a, b, cc] =
                        [0, 1, 2].map(|k| m.transform_point3(mesh.positions[(base + k) as usize]));
                    tris.push((Triangle::new(a, b, cc), o));
                }
                scene.objects.push(Object {
                    name: String::new(),
                    material: 0,
                    shape: Shape::Mesh {
                        mesh: scene.meshes.len(),
                    },
                    transform,
                });
                scene.meshes.push(Arc::new(mesh));
            }
        }
        (scene, (tris, spheres))
    }

    /// The two-level structure with transforms must find what a brute-force test
    /// of the flattened world-space geometry finds.
    #[test]
    fn instanced_hits_match_world_space_brute_force() {
        let (scene, (tris, spheres)) = scenes();
        let accel = Accel::build(&scene, None);
        let mut rng = SampleRng::for_sample(1, 1, 1, 7);
        let mut hits = 0;
        for _ in 0..3000 {
            let o =
                Vec3::new(rng.uniform(), rng.uniform(), rng.uniform()) * 12.0 - Vec3::splat(2.0);
            let ray = Ray {
                o,
                d: uniform_sphere(rng.uniform(), rng.uniform()),
            };
            // Spheres are only spheres in object space: a scaled one is an ellipsoid,
            // so test it in its own coordinates.
            let brute = tris
                .iter()
                .filter_map(|(t, o)| t.intersect(&ray, 1e-4, f32::INFINITY).map(|h| (h.0, *o)))
                .chain(spheres.iter().filter_map(|(s, o)| {
                    let inv = scene.objects[*o as usize].transform.matrix().inverse();
                    let local = Ray {
                        o: inv.transform_point3(ray.o),
                        d: inv.transform_vector3(ray.d),
                    };
                    s.intersect(&local, 1e-4, f32::INFINITY).map(|t| (t, *o))
                }))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let got = accel.intersect(&ray, 1e-4, f32::INFINITY);
            assert_eq!(brute.map(|b| b.1), got.map(|g| g.object));
            if let (Some(b), Some(g)) = (brute, got) {
                hits += 1;
                assert!((b.0 - g.t).abs() < 1e-3 * b.0.max(1.0));
                assert!((g.ng.length() - 1.0).abs() < 1e-4);
                assert!((g.p - (ray.o + ray.d * g.t)).length() < 1e-4);
            }
            assert_eq!(accel.occluded(&ray, 1e-4, f32::INFINITY), brute.is_some());
        }
        assert!(hits > 300, "the test should exercise many hits, got {hits}");
    }

    #[test]
    fn unchanged_meshes_are_reused_when_an_object_moves() {
        let (mut scene, _) = scenes();
        let first = Accel::build(&scene, None);
        scene.objects[1].transform.translation += Vec3::X;
        let second = Accel::build(&scene, Some(&first));
        let shared = second
            .instances()
            .iter()
            .filter(|i| matches!(*i.geometry, Geometry::Mesh(_)))
            .filter(|i| {
                first
                    .instances()
                    .iter()
                    .any(|j| Arc::ptr_eq(&i.geometry, &j.geometry))
            })
            .count();
        assert_eq!(shared, 8, "every mesh geometry is shared, none rebuilt");
    }

    /// Reuse counts geometries shared between the two structures.
    fn shared(first: &Accel, second: &Accel) -> usize {
        second
            .instances()
            .iter()
            .filter(|i| matches!(*i.geometry, Geometry::Mesh(_)))
            .filter(|i| {
                first
                    .instances()
                    .iter()
                    .any(|j| Arc::ptr_eq(&i.geometry, &j.geometry))
            })
            .count()
    }

    /// A scene loaded again holds equal meshes in new allocations: they are found by
    /// their contents. A changed mesh is rebuilt.
    #[test]
    fn equal_meshes_in_new_allocations_are_reused_and_changed_ones_rebuilt() {
        let (scene, _) = scenes();
        let first = Accel::build(&scene, None);
        let mut copy = scene.clone();
        copy.meshes = scene
            .meshes
            .iter()
            .map(|m| Arc::new(Mesh::clone(m)))
            .collect();
        assert!(!Arc::ptr_eq(&copy.meshes[0], &scene.meshes[0]));
        assert_eq!(shared(&first, &Accel::build(&copy, Some(&first))), 8);
        Arc::make_mut(&mut copy.meshes[0]).positions[0] += Vec3::X;
        assert_eq!(shared(&first, &Accel::build(&copy, Some(&first))), 7);
    }
}
