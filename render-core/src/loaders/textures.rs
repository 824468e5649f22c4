//! Texture images for a scene: [`Scene::load_textures`] decodes every texture's image,
//! reading image files from disk relative to the scene file. The JSON and OBJ loaders
//! call it once their scene is built; [`Scene::validate`] refuses a scene whose images
//! are not loaded.

use crate::scene::{Scene, SceneError, TextureSource};
use crate::texture::{TextureError, TextureImage};
use std::path::Path;
use std::sync::Arc;

impl Scene {
    /// Decodes every texture into [`Scene::images`]; file paths are relative to
    /// `base_dir`. A missing or undecodable file is an error naming it. Images of
    /// embedded textures are kept as they are, since only the scene file's loader can
    /// produce them; an embedded texture without an image is an error.
    pub fn load_textures(&mut self, base_dir: &Path) -> Result<(), SceneError> {
        let mut images = Vec::with_capacity(self.textures.len());
        for (index, t) in self.textures.iter().enumerate() {
            let image = match &t.source {
                TextureSource::File { path } => TextureImage::load(&base_dir.join(path)),
                TextureSource::Checker { squares, a, b } => {
                    Ok(TextureImage::checker(*squares, *a, *b))
                }
                TextureSource::Embedded { origin } => match self.images.get(index) {
                    Some(image) => {
                        images.push(Arc::clone(image));
                        continue;
                    }
                    None => {
                        return Err(SceneError::Texture {
                            index,
                            problem: format!(
                                "{origin} has no image: embedded textures come only from \
                                 their scene file"
                            ),
                        })
                    }
                },
            }
            .map_err(|e: TextureError| SceneError::Texture {
                index,
                problem: e.to_string(),
            })?;
            images.push(Arc::new(image));
        }
        self.images = images;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::scene::{Scene, Texture, TextureSource};
    use crate::texture::TextureImage;
    use glam::Vec3;
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn textures_must_be_loaded_before_rendering() {
        let mut s = Scene::cornell_box();
        s.textures.push(Texture {
            name: "check".into(),
            source: TextureSource::Checker {
                squares: 8,
                a: Vec3::ZERO,
                b: Vec3::ONE,
            },
        });
        assert!(s.validate().unwrap_err().to_string().contains("not loaded"));
        s.load_textures(Path::new(".")).unwrap();
        s.validate().unwrap();
        s.textures.push(Texture {
            name: "missing".into(),
            source: TextureSource::File {
                path: "no/such/file.png".into(),
            },
        });
        let e = s
            .load_textures(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("texture 1") && e.contains("file.png"), "{e}");
    }

    #[test]
    fn embedded_textures_keep_their_images_and_cannot_be_invented() {
        let mut s = Scene::cornell_box();
        s.textures.push(Texture {
            name: "embedded".into(),
            source: TextureSource::Embedded {
                origin: "model.glb#image/0".into(),
            },
        });
        let e = s.load_textures(Path::new(".")).unwrap_err().to_string();
        assert!(
            e.contains("model.glb#image/0") && e.contains("embedded textures come only"),
            "{e}"
        );
        let image = Arc::new(TextureImage::checker(2, Vec3::ZERO, Vec3::ONE));
        s.images = vec![Arc::clone(&image)];
        s.load_textures(Path::new(".")).unwrap();
        assert!(Arc::ptr_eq(&s.images[0], &image));
        s.validate().unwrap();
    }
}
