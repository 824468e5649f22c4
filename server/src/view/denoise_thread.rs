//! The denoise thread: denoises the film the render thread hands it and puts each
//! result in place of the raw pictures of that change; a change cancels it.

use super::*;

/// Whether the view's pictures are denoised now: it denoises, its runtime works,
/// and its quality says so.
pub(super) fn denoising_on(shared: &Shared) -> bool {
    shared
        .denoise
        .as_ref()
        .is_some_and(|d| d.available.load(Ordering::Relaxed))
        && lock(&shared.quality).denoise
}

/// Hands the film to the denoise thread when `plan` says a denoise is due (see
/// [`denoise_plan`]); returns whether it did.
pub(super) fn post_denoise(
    shared: &Shared,
    renderer: &Renderer,
    generation: u64,
    revision: Revision,
    progress: &denoise_plan::Progress,
    plan: &mut denoise_plan::Plan,
) -> bool {
    let Some(d) = shared.denoise.as_ref().filter(|_| denoising_on(shared)) else {
        return false;
    };
    let Some(next) = plan.next(progress, &lock(&d.costs)) else {
        return false;
    };
    let job = DenoiseJob {
        generation,
        revision,
        samples_per_pixel: progress.samples_per_pixel,
        width: progress.size.0,
        height: progress.size.1,
        downscale: next.downscale,
        averages: renderer.film().averages(renderer.exposure),
        options: next.options,
        last: next.last,
    };
    *lock(&d.job) = Some(job);
    d.wake.notify_all();
    true
}

/// The denoise thread: denoises the pictures the render thread hands it and puts each
/// result in place of the raw picture, while the change it shows is still the view's
/// latest. A denoise whose change is overtaken (an edit, a camera move) is cancelled
/// mid-way, so that the next change's preview does not share the cores with it. If
/// the runtime cannot be opened or fails, the view streams raw pictures from then on.
pub(super) fn denoise_loop(shared: &Shared) {
    let Some(d) = shared.denoise.as_ref() else {
        return;
    };
    let Some(mut denoiser) = denoising::open() else {
        stop_denoising(shared, d);
        return;
    };
    loop {
        let job = {
            let mut job = lock(&d.job);
            loop {
                if shared.shutdown.load(Ordering::Acquire) {
                    return;
                }
                if let Some(j) = job.take() {
                    d.busy.store(true, Ordering::Release);
                    break j;
                }
                job = d.wake.wait(job).unwrap_or_else(|e| e.into_inner());
            }
        };
        let stale = || {
            shared.generation.load(Ordering::Acquire) != job.generation
                || shared.shutdown.load(Ordering::Relaxed)
        };
        let (width, height) = (job.width as usize, job.height as usize);
        let start = Instant::now();
        let result = if stale() {
            Err(denoising::Error::Cancelled)
        } else {
            denoising::denoise_averages_reduced(
                &mut denoiser,
                &job.averages,
                (width, height),
                job.downscale,
                job.options,
                &stale,
            )
        };
        match result {
            Ok(radiance) => {
                let cost = start.elapsed();
                lock(&d.costs).record(
                    denoise_plan::reduced((job.width, job.height), job.downscale),
                    cost,
                );
                let s = &shared.stats;
                s.denoise_micros
                    .fetch_add(cost.as_micros() as u64, Ordering::Relaxed);
                let mut i420 = I420Frame::new(width, height);
                rows_to_i420(
                    &RadianceRows {
                        radiance: &radiance,
                        width,
                    },
                    &mut i420,
                );
                let frame = RenderedFrame {
                    i420,
                    revision: job.revision,
                    serial: shared.next_serial.fetch_add(1, Ordering::Relaxed),
                    converged: job.last,
                    samples_per_pixel: job.samples_per_pixel,
                    denoised: true,
                    generation: job.generation,
                };
                let mut latest = lock(&shared.latest);
                if !stale() {
                    *latest = Some(Arc::new(frame));
                    s.pictures_denoised.fetch_add(1, Ordering::Relaxed);
                    *lock(&d.picture) = Some(Arc::new(DenoisedPicture {
                        generation: job.generation,
                        samples_per_pixel: job.samples_per_pixel,
                        radiance,
                    }));
                }
                drop(latest);
                shared.latest_changed.notify_all();
            }
            Err(denoising::Error::Cancelled) => {}
            Err(e) => {
                tracing::warn!("denoising stopped; the view streams raw pictures: {e}");
                d.busy.store(false, Ordering::Release);
                stop_denoising(shared, d);
                return;
            }
        }
        d.busy.store(false, Ordering::Release);
        // The render thread waits for the denoise; the control lock, taken and
        // dropped, orders this wake-up after its check of `busy`.
        drop(lock(&shared.control));
        shared.changed.notify_all();
    }
}

/// The denoiser turned out to be missing or broken: the view's clients hear that it
/// does not denoise after all, and the picture starts over as a raw one (with the
/// raw pictures' indirect clamp).
pub(super) fn stop_denoising(shared: &Shared, d: &DenoiseShared) {
    d.available.store(false, Ordering::Relaxed);
    let mut q = lock(&shared.quality);
    if q.denoise {
        q.denoise = false;
        shared.outbox.push(ViewEvent::QualityChanged(*q));
        shared.outbox.publish();
    }
    drop(q);
    {
        let mut c = lock(&shared.control);
        c.generation += 1;
        shared.generation.store(c.generation, Ordering::Release);
    }
    shared.changed.notify_all();
}
