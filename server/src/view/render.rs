//! The render thread: follows the view's changes (scene version, camera, size,
//! quality), refines the picture progressively (previews, then one-sample passes),
//! publishes each pass converted to I420 as the view's latest frame, hands the film to
//! the denoise thread when the denoise plan says so, and pauses once converged, out
//! of time, or unwatched past [`UNWATCHED_SPP`].

use super::denoise_thread::{denoising_on, post_denoise};
use super::*;

/// Samples per pixel a view renders each change to while nobody watches it.
pub const UNWATCHED_SPP: u32 = 16;

/// The samples per pixel a change is rendered to: all of `max_spp` while somebody
/// watches; nobody watching, a modest quality (what a snapshot or a viewer arriving
/// later starts from), then the render stops.
pub fn sample_budget(max_spp: u32, watched: bool) -> u32 {
    if watched {
        max_spp
    } else {
        max_spp.min(UNWATCHED_SPP)
    }
}

/// Whether the render goes on at `spp` samples per pixel, `elapsed` after the change:
/// under its sample budget and within `--max-seconds`. Otherwise it sleeps until
/// something changes (a viewer subscribing counts).
pub fn keeps_rendering(
    spp: u32,
    max_spp: u32,
    watched: bool,
    elapsed: Duration,
    max_time: Option<Duration>,
) -> bool {
    spp < sample_budget(max_spp, watched) && max_time.is_none_or(|limit| elapsed < limit)
}

pub(super) fn render_loop(shared: &Shared, mut renderer: Renderer, max_time: Option<Duration>) {
    let mut rendered_generation = u64::MAX;
    let mut scene: Option<Arc<SceneVersion>> = None;
    let mut max_spp = 0;
    let mut revision = Revision(0);
    let mut serial = 0u64;
    // When the picture last changed, for the time limit.
    let mut since = Instant::now();
    // This change's denoising, the time the render has run since the change or the
    // last denoise, and whether the render waits for a denoise to end.
    let mut denoise_plan = denoise_plan::Plan::default();
    let mut rendering_since = Instant::now();
    let mut awaiting_denoise = false;
    loop {
        {
            let mut c = lock(&shared.control);
            loop {
                if shared.shutdown.load(Ordering::Acquire) {
                    return;
                }
                if !c.snapshots.is_empty() && renderer.has_image() {
                    let waiting = std::mem::take(&mut c.snapshots);
                    let revision = revision;
                    drop(c);
                    let (width, height) = (renderer.width(), renderer.height());
                    // The denoised picture of the change being rendered, if any.
                    let denoised = shared
                        .denoise
                        .as_ref()
                        .and_then(|d| lock(&d.picture).clone())
                        .filter(|p| {
                            p.generation == rendered_generation
                                && p.radiance.len() == width as usize * height as usize
                        });
                    let shown = lock(&shared.latest).as_ref().map_or(serial, |f| f.serial);
                    let mut pictures: [Option<Snapshot>; 2] = [None, None];
                    for (tx, want_denoised) in waiting {
                        let which = usize::from(want_denoised && denoised.is_some());
                        let shot = pictures[which].get_or_insert_with(|| {
                            let mut rgb = vec![0u8; width as usize * height as usize * 3];
                            let (samples_per_pixel, denoised) = match (which, &denoised) {
                                (1, Some(p)) => {
                                    render_core::film::write_rgb8(&p.radiance, 1.0, &mut rgb);
                                    (p.samples_per_pixel, true)
                                }
                                _ => {
                                    renderer.write_rgb8(&mut rgb);
                                    (renderer.samples_per_pixel(), false)
                                }
                            };
                            Snapshot {
                                width,
                                height,
                                rgb,
                                revision,
                                samples_per_pixel,
                                serial: shown,
                                denoised,
                            }
                        });
                        let _ = tx.send(shot.clone());
                    }
                    c = lock(&shared.control);
                    continue;
                }
                if c.generation != rendered_generation {
                    if scene.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &c.scene)) {
                        // The store validated the scene; a failure here would be a bug.
                        // Compiled once per version for every view (and picks).
                        renderer.set_compiled(c.scene.compiled());
                        renderer.exposure = c.scene.settings.exposure;
                        max_spp = c.scene.settings.max_samples;
                        scene = Some(c.scene.clone());
                    }
                    // Camera and size were validated where they came in; a failure
                    // here would be a bug.
                    if let Err(e) = renderer.resize(c.size.0, c.size.1) {
                        tracing::error!("rejected size reached the renderer: {e}");
                    }
                    if let Err(e) = renderer.set_camera(c.camera) {
                        tracing::error!("rejected camera reached the renderer: {e}");
                    }
                    rendered_generation = c.generation;
                    revision = c.revision;
                    renderer.set_indirect_clamp(
                        shared.indirect_clamp.for_picture(denoising_on(shared)),
                    );
                    since = Instant::now();
                    denoise_plan = denoise_plan::Plan::default();
                    rendering_since = since;
                    awaiting_denoise = false;
                    break;
                }
                // A denoise of this change is running: the render waits for it, so
                // that it has the cores to itself (see `denoise_plan`).
                if awaiting_denoise {
                    if shared
                        .denoise
                        .as_ref()
                        .is_some_and(|d| d.busy.load(Ordering::Acquire) || lock(&d.job).is_some())
                    {
                        c = shared.changed.wait(c).unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    awaiting_denoise = false;
                    rendering_since = Instant::now();
                }
                let watched = shared.frames.receiver_count() > 0;
                if keeps_rendering(
                    renderer.samples_per_pixel(),
                    max_spp,
                    watched,
                    since.elapsed(),
                    max_time,
                ) {
                    break;
                }
                // Converged, out of time or unwatched: sleep until something changes
                // (a viewer subscribing counts).
                shared.stats.rendering.store(0, Ordering::Relaxed);
                c = shared.changed.wait(c).unwrap_or_else(|e| e.into_inner());
            }
        }
        shared.stats.rendering.store(1, Ordering::Relaxed);
        let generation = rendered_generation;
        let stale = || {
            shared.generation.load(Ordering::Acquire) != generation
                || shared.shutdown.load(Ordering::Relaxed)
        };
        let Some(report) = renderer.render_next(&stale) else {
            continue;
        };
        let s = &shared.stats;
        s.passes_rendered.fetch_add(1, Ordering::Relaxed);
        s.samples_rendered
            .fetch_add(report.samples, Ordering::Relaxed);
        s.rays_traced.fetch_add(report.rays, Ordering::Relaxed);
        s.render_micros
            .fetch_add(report.duration.as_micros() as u64, Ordering::Relaxed);
        let converged = renderer.samples_per_pixel() >= max_spp
            || max_time.is_some_and(|limit| since.elapsed() >= limit);
        if report.kind == PassKind::Full {
            // The render stops here for now: converged, or at the sample budget of a
            // view nobody watches (see the wait above).
            let pausing = converged
                || renderer.samples_per_pixel()
                    >= sample_budget(max_spp, shared.frames.receiver_count() > 0);
            let progress = denoise_plan::Progress {
                samples_per_pixel: renderer.samples_per_pixel(),
                size: (renderer.width(), renderer.height()),
                rendering: rendering_since.elapsed(),
                pausing,
            };
            let posted = post_denoise(
                shared,
                &renderer,
                generation,
                revision,
                &progress,
                &mut denoise_plan,
            );
            awaiting_denoise |= posted;
            // This very film comes back denoised as soon as the denoise ends (the
            // render waits for it): its raw picture would only show for that long,
            // and the first full sample is noisier than the preview before it.
            if posted && !pausing {
                continue;
            }
        }
        // Once this change has a denoised picture, raw passes only feed the next
        // denoise: the denoised picture stays on screen until a better one comes.
        let denoised_shown = |latest: &Option<Arc<RenderedFrame>>| {
            latest
                .as_ref()
                .is_some_and(|f| f.denoised && f.generation == generation)
        };
        if denoised_shown(&lock(&shared.latest)) {
            continue;
        }
        let convert_start = Instant::now();
        let mut i420 = I420Frame::new(renderer.width() as usize, renderer.height() as usize);
        rows_to_i420(&PictureRows(renderer.picture()), &mut i420);
        s.convert_micros.fetch_add(
            convert_start.elapsed().as_micros() as u64,
            Ordering::Relaxed,
        );
        serial = shared.next_serial.fetch_add(1, Ordering::Relaxed);
        let frame = RenderedFrame {
            i420,
            revision,
            serial,
            converged,
            samples_per_pixel: renderer.samples_per_pixel(),
            denoised: false,
            generation,
        };
        let mut latest = lock(&shared.latest);
        if !denoised_shown(&latest) {
            *latest = Some(Arc::new(frame));
            drop(latest);
            shared.latest_changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwatched_view_pauses_at_its_modest_budget_and_resumes_when_watched() {
        let second = Duration::from_secs(1);
        // Watched: up to the scene's samples.
        assert!(keeps_rendering(100, 256, true, second, None));
        assert!(!keeps_rendering(256, 256, true, second, None));
        // Unwatched: up to UNWATCHED_SPP, then paused; a viewer arriving resumes it.
        assert!(keeps_rendering(UNWATCHED_SPP - 1, 256, false, second, None));
        assert!(!keeps_rendering(UNWATCHED_SPP, 256, false, second, None));
        assert!(keeps_rendering(UNWATCHED_SPP, 256, true, second, None));
        // A scene asking for fewer samples than that is done at its own count.
        assert_eq!(sample_budget(4, false), 4);
        // Out of time: paused whatever the samples.
        assert!(!keeps_rendering(1, 256, true, 3 * second, Some(2 * second)));
        assert!(keeps_rendering(1, 256, true, second, Some(2 * second)));
    }
}
