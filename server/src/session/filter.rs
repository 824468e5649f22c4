//! The plumbing shared by the server's own interceptors, which only look at what
//! comes in: a [`ReadFilter`] sees each inbound packet and keeps, changes or drops
//! it; outbound packets pass untouched. [`Filter`] turns one into an interceptor.

use rtc::interceptor::{Interceptor, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::time::Instant;

/// What an inbound-only interceptor does.
pub trait ReadFilter: Send + Sync {
    /// The packet to pass on (possibly changed), or `None` to drop it.
    fn read(&mut self, msg: TaggedPacket) -> Option<TaggedPacket>;
    /// A stream this connection sends was bound or unbound.
    fn bind_local(&mut self, _info: &StreamInfo) {}
    fn unbind_local(&mut self, _info: &StreamInfo) {}
}

/// A [`ReadFilter`] as an interceptor.
#[derive(Default)]
pub struct Filter<F> {
    pub inner: F,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl<F: ReadFilter> Protocol<TaggedPacket, TaggedPacket, ()> for Filter<F> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Some(msg) = self.inner.read(msg) {
            self.read.push_back(msg);
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl<F: ReadFilter> Interceptor for Filter<F> {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_local(info);
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_local(info);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
