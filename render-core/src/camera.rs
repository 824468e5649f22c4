//! The pinhole camera.

use glam::Vec3;
use serde::{Deserialize, Serialize};

/// A pinhole camera looking from `eye` at `target`, with `up` giving the roll and
/// `fov` the vertical field of view in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    pub eye: Vec3,
    pub target: Vec3,
    pub up: Vec3,
    pub fov: f32,
}

/// Why a camera cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CameraError {
    #[error("{0} must contain only finite numbers")]
    NotFinite(&'static str),
    #[error("fov must be between {min} and {max} degrees, got {0}", min = Camera::MIN_FOV, max = Camera::MAX_FOV)]
    FovOutOfRange(f32),
    #[error("eye and target must be different points")]
    EyeEqualsTarget,
    #[error("up must not be zero or parallel to the viewing direction")]
    DegenerateUp,
}

impl Camera {
    pub const MIN_FOV: f32 = 1.0;
    pub const MAX_FOV: f32 = 170.0;

    /// Checks that the camera defines a proper view.
    pub fn validate(&self) -> Result<(), CameraError> {
        for (name, v) in [("eye", self.eye), ("target", self.target), ("up", self.up)] {
            if !v.is_finite() {
                return Err(CameraError::NotFinite(name));
            }
        }
        if !self.fov.is_finite() {
            return Err(CameraError::NotFinite("fov"));
        }
        if !(Self::MIN_FOV..=Self::MAX_FOV).contains(&self.fov) {
            return Err(CameraError::FovOutOfRange(self.fov));
        }
        let forward = self.target - self.eye;
        if forward.length_squared() < 1e-12 {
            return Err(CameraError::EyeEqualsTarget);
        }
        if self.up.length_squared() < 1e-12
            || forward.normalize().cross(self.up.normalize()).length() < 1e-4
        {
            return Err(CameraError::DegenerateUp);
        }
        Ok(())
    }
}

/// A camera prepared for generating rays for an image of a given size.
#[derive(Clone, Copy, Debug)]
pub struct CameraRays {
    eye: Vec3,
    /// Direction through the image's top-left corner.
    corner: Vec3,
    /// Step along +x per pixel.
    dx: Vec3,
    /// Step along +y (downwards) per pixel.
    dy: Vec3,
}

impl CameraRays {
    /// Prepares `camera` for an image `width` by `height` pixels. The camera must be valid.
    pub fn new(camera: &Camera, width: u32, height: u32) -> Self {
        let forward = (camera.target - camera.eye).normalize();
        let right = forward.cross(camera.up).normalize();
        let up = right.cross(forward);
        let half_h = (camera.fov.to_radians() * 0.5).tan();
        let half_w = half_h * width as f32 / height as f32;
        let corner = forward - right * half_w + up * half_h;
        CameraRays {
            eye: camera.eye,
            corner,
            dx: right * (2.0 * half_w / width as f32),
            dy: -up * (2.0 * half_h / height as f32),
        }
    }

    /// The ray through `p_film` (in pixels, (0, 0) at the top-left corner of the image).
    pub fn ray(&self, p_film_x: f32, p_film_y: f32) -> (Vec3, Vec3) {
        let d = self.corner + self.dx * p_film_x + self.dy * p_film_y;
        (self.eye, d.normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> Camera {
        Camera {
            eye: Vec3::new(0.0, 0.0, 5.0),
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 60.0,
        }
    }

    #[test]
    fn centre_ray_points_at_target_and_corners_span_the_fov() {
        let rays = CameraRays::new(&cam(), 200, 100);
        let (o, d) = rays.ray(100.0, 50.0);
        assert_eq!(o, Vec3::new(0.0, 0.0, 5.0));
        assert!((d - Vec3::new(0.0, 0.0, -1.0)).length() < 1e-5);
        // The top edge is half the vertical fov above the axis.
        let (_, top) = rays.ray(100.0, 0.0);
        let angle = top.dot(Vec3::new(0.0, 0.0, -1.0)).acos().to_degrees();
        assert!((angle - 30.0).abs() < 1e-3, "{angle}");
        assert!(top.y > 0.0, "image y grows downwards");
        let (_, right) = rays.ray(200.0, 50.0);
        assert!(right.x > 0.0);
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(cam().validate().is_ok());
        let mut c = cam();
        c.fov = 0.0;
        assert_eq!(c.validate(), Err(CameraError::FovOutOfRange(0.0)));
        let mut c = cam();
        c.eye.x = f32::NAN;
        assert_eq!(c.validate(), Err(CameraError::NotFinite("eye")));
        let mut c = cam();
        c.target = c.eye;
        assert_eq!(c.validate(), Err(CameraError::EyeEqualsTarget));
        let mut c = cam();
        c.up = Vec3::new(0.0, 0.0, 1.0);
        assert_eq!(c.validate(), Err(CameraError::DegenerateUp));
    }
}
