//! Frames on standard output, for debugging and the README demo.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Standard output as a never-readable stream, so the output loop treats it
/// like any connection.
pub(crate) struct StdoutStream {
    out: tokio::io::Stdout,
}

impl StdoutStream {
    pub(crate) fn new() -> StdoutStream {
        StdoutStream {
            out: tokio::io::stdout(),
        }
    }
}

impl Default for StdoutStream {
    fn default() -> Self {
        StdoutStream::new()
    }
}

impl AsyncRead for StdoutStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for StdoutStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.out).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.out).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Never close fd 1: only flush it.
        Pin::new(&mut self.out).poll_flush(cx)
    }
}
