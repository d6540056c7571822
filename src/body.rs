//! Request bodies, checked before and while a service reads them: gRPC
//! frames well formed (a compressed flag of 0, or 1 with a
//! `grpc-encoding`; a length within the message limit; nothing cut short;
//! exactly one message in a unary call), and for the services whose codec
//! we do not control (health, reflection) each message decodable. What
//! fails is INVALID_ARGUMENT saying what is wrong — the client's fault,
//! where tonic would answer INTERNAL.
//!
//! A unary body is read whole, within a deadline, before the call goes on;
//! a streaming body is handed on as it arrives, each frame within a gap of
//! the one before.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt;
use tonic::Status;
use tonic::body::Body;

use super::methods::MessageCheck;

/// Bytes of a gRPC message's header: the compressed flag and the length.
const HEADER_BYTES: usize = 5;

/// Why a request's body was not taken.
pub(crate) enum BodyProblem {
    /// It had not arrived by the deadline.
    Late,
    /// It is not a well-formed request, or the client went away.
    Refused(Status),
}

fn malformed(why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("malformed request: {why}"))
}

pub(crate) fn too_large(max: usize) -> Status {
    Status::out_of_range(format!(
        "request message too large: the server's limit is {max} bytes"
    ))
}

/// Follows the frames of a body as its bytes pass, without copying them
/// (except messages it decodes to check).
#[derive(Debug)]
pub(crate) struct FrameCheck {
    header: [u8; HEADER_BYTES],
    header_len: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
    /// The current message, when messages are decoded to check them.
    message: Option<BytesMut>,
    /// Complete messages seen.
    messages: usize,
    max_message_bytes: usize,
    compressed_allowed: bool,
    check: Option<MessageCheck>,
}

impl FrameCheck {
    pub(crate) fn new(
        max_message_bytes: usize,
        compressed_allowed: bool,
        check: Option<MessageCheck>,
    ) -> FrameCheck {
        FrameCheck {
            header: [0; HEADER_BYTES],
            header_len: 0,
            remaining: 0,
            message: None,
            messages: 0,
            max_message_bytes,
            compressed_allowed,
            check,
        }
    }

    /// Takes the next bytes of the body.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.header_len < HEADER_BYTES {
                let take = (HEADER_BYTES - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                data = &data[take..];
                if self.header_len == HEADER_BYTES {
                    self.start_message()?;
                }
                continue;
            }
            let take = self.remaining.min(data.len());
            if let Some(message) = &mut self.message {
                message.extend_from_slice(&data[..take]);
            }
            self.remaining -= take;
            data = &data[take..];
            if self.remaining == 0 {
                self.end_message()?;
            }
        }
        Ok(())
    }

    fn start_message(&mut self) -> Result<(), Status> {
        let compressed = match self.header[0] {
            0 => false,
            1 if self.compressed_allowed => true,
            1 => {
                return Err(malformed(
                    "the compressed flag is set but no grpc-encoding header names a compression",
                ));
            }
            flag => {
                return Err(malformed(format!(
                    "compressed flag {flag}; it must be 0 or 1"
                )));
            }
        };
        let length = u32::from_be_bytes([
            self.header[1],
            self.header[2],
            self.header[3],
            self.header[4],
        ]) as usize;
        if length > self.max_message_bytes {
            return Err(too_large(self.max_message_bytes));
        }
        self.remaining = length;
        // A compressed message is checked by whoever decompresses it.
        self.message =
            (self.check.is_some() && !compressed).then(|| BytesMut::with_capacity(length));
        if length == 0 {
            self.end_message()?;
        }
        Ok(())
    }

    fn end_message(&mut self) -> Result<(), Status> {
        if let (Some(check), Some(message)) = (self.check, self.message.take()) {
            check(&message).map_err(Status::invalid_argument)?;
        }
        self.messages += 1;
        self.header_len = 0;
        Ok(())
    }

    /// The body ended: nothing may be left half-sent.
    pub(crate) fn finish(&self) -> Result<(), Status> {
        match self.header_len {
            0 => Ok(()),
            HEADER_BYTES => Err(malformed(format!(
                "the last message is cut short: {} of its bytes never arrived",
                self.remaining
            ))),
            got => Err(malformed(format!(
                "the last message header is cut short: {got} of {HEADER_BYTES} bytes"
            ))),
        }
    }
}

/// Reads a unary request's body whole by `deadline` and checks it holds
/// exactly one well-formed message, then gives the request back with the
/// body in memory.
pub(crate) async fn read_unary(
    request: http::Request<Body>,
    deadline: Instant,
    max_message_bytes: usize,
    check: Option<MessageCheck>,
) -> Result<http::Request<Body>, BodyProblem> {
    let (parts, mut body) = request.into_parts();
    let compressed_allowed = parts.headers.contains_key("grpc-encoding");
    let mut frames = FrameCheck::new(max_message_bytes, compressed_allowed, check);
    let mut bytes = BytesMut::new();
    let reading = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|status| {
                BodyProblem::Refused(Status::cancelled(format!(
                    "the request stream failed: {}",
                    status.message()
                )))
            })?;
            if let Ok(data) = frame.into_data() {
                frames.feed(&data).map_err(BodyProblem::Refused)?;
                bytes.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    tokio::time::timeout_at(deadline.into(), reading)
        .await
        .map_err(|_| BodyProblem::Late)??;
    frames.finish().map_err(BodyProblem::Refused)?;
    match frames.messages {
        0 => {
            return Err(BodyProblem::Refused(malformed(
                "the body is empty; a gRPC request carries one length-prefixed message",
            )));
        }
        1 => {}
        n => {
            return Err(BodyProblem::Refused(malformed(format!(
                "{n} messages; a unary call carries exactly one message"
            ))));
        }
    }
    let body = Body::new(http_body_util::Full::new(bytes.freeze()));
    Ok(http::Request::from_parts(parts, body))
}

/// What a streaming request's checks found wrong, for its answer.
pub(crate) type StreamProblem = Arc<OnceLock<Status>>;

/// When a streaming request's body ended — cleanly, or failed — for a
/// timeout that counts from there.
#[derive(Debug, Default)]
pub(crate) struct StreamEnd {
    at: OnceLock<Instant>,
    ended: tokio::sync::Notify,
}

impl StreamEnd {
    fn mark(&self) {
        if self.at.set(Instant::now()).is_ok() {
            self.ended.notify_waiters();
        }
    }

    /// When the body ended, once it has.
    pub(crate) async fn wait(&self) -> Instant {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the look, so an end between the two wakes
            // this wait.
            ended.as_mut().enable();
            if let Some(at) = self.at.get() {
                return *at;
            }
            ended.await;
        }
    }
}

/// Waits (by `deadline`) for a streaming request's first data, or its end,
/// then gives the request back with a body whose frames are checked as
/// they pass and must each follow the one before within `gap`.
pub(crate) async fn first_message(
    request: http::Request<Body>,
    deadline: Instant,
    gap: Duration,
    max_message_bytes: usize,
    check: Option<MessageCheck>,
) -> Result<(http::Request<Body>, super::arrival::Stream), BodyProblem> {
    let (parts, mut body) = request.into_parts();
    let first = tokio::time::timeout_at(deadline.into(), body.frame())
        .await
        .map_err(|_| BodyProblem::Late)?;
    let problem = StreamProblem::default();
    let end = Arc::new(StreamEnd::default());
    let body = CheckedStream {
        end: Arc::clone(&end),
        first: Some(first),
        inner: body,
        frames: FrameCheck::new(
            max_message_bytes,
            parts.headers.contains_key("grpc-encoding"),
            check,
        ),
        problem: Arc::clone(&problem),
        gap,
        next_by: Box::pin(tokio::time::sleep(gap)),
        done: false,
    };
    Ok((
        http::Request::from_parts(parts, Body::new(body)),
        super::arrival::Stream::new(problem, end),
    ))
}

/// A streaming request body, checked frame by frame and paced: a malformed
/// frame, or a gap longer than `gap`, fails it (which ends the call; an
/// import then applies nothing).
struct CheckedStream {
    /// The frame read before the call went on, handed out first.
    first: Option<Option<Result<Frame<Bytes>, Status>>>,
    inner: Body,
    frames: FrameCheck,
    problem: StreamProblem,
    end: Arc<StreamEnd>,
    gap: Duration,
    next_by: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl CheckedStream {
    /// Checks a frame on its way to the service.
    fn check(
        &mut self,
        frame: Option<Result<Frame<Bytes>, Status>>,
    ) -> Option<Result<Frame<Bytes>, Status>> {
        let verdict = match &frame {
            Some(Ok(frame)) => frame
                .data_ref()
                .map_or(Ok(()), |data| self.frames.feed(data)),
            Some(Err(_)) => Ok(()),
            None => self.frames.finish(),
        };
        let ended = matches!(frame, None | Some(Err(_)));
        let answer = match verdict {
            Ok(()) => {
                self.done = frame.is_none();
                frame
            }
            Err(status) => {
                self.done = true;
                let _ = self.problem.set(status.clone());
                Some(Err(status))
            }
        };
        if ended || self.done {
            self.end.mark();
        }
        answer
    }
}

impl http_body::Body for CheckedStream {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(self.check(first));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + self.gap;
                self.next_by.as_mut().reset(next);
                Poll::Ready(self.check(frame))
            }
            Poll::Pending => match self.next_by.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    self.end.mark();
                    Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                        "no message arrived for {} ms; the stream was abandoned",
                        self.gap.as_millis()
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The answer to a streaming call whose request turned out malformed says
/// so, whatever the service made of the failed stream (tonic's reflection
/// just ends it, OK).
pub(crate) fn answer_problem(
    response: http::Response<Body>,
    problem: StreamProblem,
) -> http::Response<Body> {
    if let Some(status) = problem.get() {
        // Answered at once (trailers-only): replace it.
        if response.headers().contains_key("grpc-status") {
            return status.clone().into_http();
        }
    }
    response.map(|inner| Body::new(ProblemAware { inner, problem }))
}

/// A response body whose final status becomes the request's problem, if
/// the request had one.
struct ProblemAware {
    inner: Body,
    problem: StreamProblem,
}

impl http_body::Body for ProblemAware {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match (frame, self.problem.get()) {
            (Some(Ok(frame)), Some(status)) if frame.is_trailers() => {
                let mut trailers = http::HeaderMap::new();
                if status.add_header(&mut trailers).is_ok() {
                    Some(Ok(Frame::trailers(trailers)))
                } else {
                    Some(Ok(frame))
                }
            }
            (frame, _) => frame,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, declared: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&declared.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    fn check_all(chunks: &[&[u8]], check: Option<MessageCheck>) -> Result<usize, String> {
        let mut frames = FrameCheck::new(100, false, check);
        for chunk in chunks {
            frames.feed(chunk).map_err(|s| s.message().to_owned())?;
        }
        frames.finish().map_err(|s| s.message().to_owned())?;
        Ok(frames.messages)
    }

    #[test]
    fn frames_are_followed_across_chunks() {
        let two: Vec<u8> = [frame(0, 3, b"abc"), frame(0, 0, b"")].concat();
        assert_eq!(check_all(&[&two], None), Ok(2));
        // Split at every position: the same answer.
        for cut in 0..two.len() {
            assert_eq!(
                check_all(&[&two[..cut], &two[cut..]], None),
                Ok(2),
                "cut {cut}"
            );
        }
        let error = |chunks: &[&[u8]]| check_all(chunks, None).unwrap_err();
        assert!(error(&[&[0, 0, 0]]).contains("header is cut short: 3 of 5"));
        assert!(error(&[&frame(0, 9, b"abc")]).contains("6 of its bytes never arrived"));
        assert!(error(&[&frame(1, 3, b"abc")]).contains("no grpc-encoding"));
        assert!(error(&[&frame(7, 3, b"abc")]).contains("compressed flag 7"));
        assert!(error(&[&frame(0, 101, b"")]).contains("too large"));
    }

    #[test]
    fn checked_messages_must_decode() {
        let refuse_x: MessageCheck = |bytes| {
            if bytes.contains(&b'x') {
                Err("malformed Test message: x".into())
            } else {
                Ok(())
            }
        };
        assert_eq!(check_all(&[&frame(0, 2, b"ok")], Some(refuse_x)), Ok(1));
        let bad = frame(0, 3, b"axb");
        assert_eq!(
            check_all(&[&bad[..6], &bad[6..]], Some(refuse_x)),
            Err("malformed Test message: x".into())
        );
    }
}
