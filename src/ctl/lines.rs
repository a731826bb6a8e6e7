//! [`Lines`]: the service's side of a command's long output (an export, a rematch's report)
//! as [`Reply`] lines on the control channel.

use std::io::Write;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Reply;

/// A blocking writer that sends what is written as replies, a line (or 64 KiB) at a time.
/// It fails once the client left or the stretch ended (`gone`): the work writing to it
/// stops and lets go of the store.
pub struct Lines<'a> {
    tx: &'a mpsc::Sender<Reply>,
    make: fn(String) -> Reply,
    buf: Vec<u8>,
    gone: &'a CancellationToken,
}

impl<'a> Lines<'a> {
    pub fn new(
        tx: &'a mpsc::Sender<Reply>,
        make: fn(String) -> Reply,
        gone: &'a CancellationToken,
    ) -> Lines<'a> {
        Lines {
            tx,
            make,
            buf: Vec::new(),
            gone,
        }
    }

    fn send(&mut self, upto: usize) -> std::io::Result<()> {
        if self.gone.is_cancelled() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the store was taken out",
            ));
        }
        let rest = self.buf.split_off(upto);
        let chunk = std::mem::replace(&mut self.buf, rest);
        let text = String::from_utf8_lossy(&chunk).into_owned();
        self.tx
            .blocking_send((self.make)(text))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl Write for Lines<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            let upto = self
                .buf
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(self.buf.len(), |i| i + 1);
            self.send(upto)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.send(self.buf.len())?;
        }
        Ok(())
    }
}
