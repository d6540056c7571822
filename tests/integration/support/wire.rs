//! A raw HTTP/2 client (the `h2` crate) for the tests that must send what a
//! well-behaved gRPC client never would: bodies that never come, resets,
//! malformed frames, wrong content-types, slow streams.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::SendStream;
use h2::client::{ResponseFuture, SendRequest};
use prost::Message;
use tokio::net::TcpStream;
use tonic::Status;

/// One HTTP/2 connection, driven by a background task.
pub struct RawConnection {
    sender: SendRequest<Bytes>,
    pub driver: tokio::task::JoinHandle<Result<(), h2::Error>>,
}

/// What came back for one request.
#[derive(Debug)]
pub struct RawAnswer {
    pub http_status: http::StatusCode,
    pub headers: http::HeaderMap,
    /// Bytes of the body (the messages, unread).
    pub body_bytes: usize,
    pub trailers: Option<http::HeaderMap>,
}

impl RawAnswer {
    /// The gRPC status, from the trailers or (trailers-only) the headers.
    pub fn status(&self) -> Option<Status> {
        self.trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&self.headers))
    }

    /// The gRPC status, failing the test if there is none.
    #[track_caller]
    pub fn grpc(&self) -> Status {
        self.status()
            .unwrap_or_else(|| panic!("no grpc-status in {self:?}"))
    }
}

/// A gRPC message frame: the uncompressed flag, the length, the bytes.
pub fn frame(message: &[u8]) -> Bytes {
    let mut bytes = Vec::with_capacity(5 + message.len());
    bytes.push(0);
    bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
    bytes.extend_from_slice(message);
    Bytes::from(bytes)
}

/// A framed protobuf message.
pub fn framed(message: &impl Message) -> Bytes {
    frame(&message.encode_to_vec())
}

/// A gRPC request's head: POST to `path` with the gRPC content-type.
pub fn grpc_request(path: &str) -> http::request::Builder {
    http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
}

impl RawConnection {
    pub async fn open(address: SocketAddr) -> RawConnection {
        let tcp = TcpStream::connect(address).await.expect("connect");
        let (sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        let driver = tokio::spawn(connection);
        RawConnection { sender, driver }
    }

    /// Sends a request's head and returns its response and body stream.
    pub async fn start(
        &mut self,
        request: http::Request<()>,
    ) -> (ResponseFuture, SendStream<Bytes>) {
        self.sender = self.sender.clone().ready().await.expect("h2 ready");
        self.sender
            .send_request(request, false)
            .expect("send request")
    }

    /// Sends a whole request (head, `body`, end of stream) and reads the
    /// answer.
    pub async fn call(&mut self, request: http::Request<()>, body: Bytes) -> RawAnswer {
        let (response, mut stream) = self.start(request).await;
        stream.send_data(body, true).expect("send body");
        answer(response).await
    }
}

/// Reads a response in full, within 10 s.
pub async fn answer(response: ResponseFuture) -> RawAnswer {
    tokio::time::timeout(Duration::from_secs(10), async {
        let response = response.await.expect("response");
        let (parts, mut body) = response.into_parts();
        let mut body_bytes = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("response body");
            let _ = body.flow_control().release_capacity(chunk.len());
            body_bytes += chunk.len();
        }
        let trailers = body.trailers().await.expect("trailers");
        RawAnswer {
            http_status: parts.status,
            headers: parts.headers,
            body_bytes,
            trailers,
        }
    })
    .await
    .expect("an answer within 10 s")
}

/// The body of a plain HTTP/1.1 GET of `path` (which must answer 200).
pub async fn http_get(address: impl tokio::net::ToSocketAddrs, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}
