//! Compiles `proto/partnermatch/v1/*.proto` without a system `protoc`:
//! `protox` parses them into a descriptor set (with source comments, so
//! reflection and `grpcurl describe` show the documentation), which is written
//! to `OUT_DIR` for the reflection service and fed to `tonic-prost-build`.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/partnermatch/v1/school.proto",
    "proto/partnermatch/v1/registry.proto",
    "proto/partnermatch/v1/matcher.proto",
    "proto/partnermatch/v1/partnership.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build emits no rerun-if-changed for `compile_fds`, so say it
    // here or edits to the protos would not trigger a rebuild.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("partnermatch_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // Our codec is prost's, but calls undecodable bytes INVALID_ARGUMENT.
    tonic_prost_build::configure()
        .codec_path("crate::codec::WireCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
