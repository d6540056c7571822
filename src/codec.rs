//! The protobuf codec of every generated service and client: prost's, with
//! one change. Bytes that do not decode as the method's message (a wire
//! type of 7, a truncated varint, a length past the end, a string that is
//! not UTF-8) are the sender's fault, so they are INVALID_ARGUMENT naming
//! the message and field, where prost's codec says INTERNAL.

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

#[derive(Debug, Clone)]
pub(crate) struct WireCodec<T, U> {
    prost: ProstCodec<T, U>,
}

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        WireCodec {
            prost: ProstCodec::default(),
        }
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.prost.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder {
            prost: self.prost.decoder(),
            _message: PhantomData,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WireDecoder<U> {
    prost: ProstDecoder<U>,
    _message: PhantomData<U>,
}

/// `MatchRequest` for `partnermatch::api::pb::MatchRequest`.
fn message_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}

impl<U: prost::Message + Default> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.prost.decode(buf).map_err(|status| {
            // prost's decoder fails only with INTERNAL, for bytes that are
            // not a valid message.
            Status::invalid_argument(format!(
                "malformed {} message: {}",
                message_name::<U>(),
                status.message()
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.prost.buffer_settings()
    }
}
