fn main() {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let result = capnpc::CompilerCommand::new()
        .src_prefix(&schemas)
        .file(schemas.join("bindery.capnp"))
        .run();
    if let Err(e) = result {
        panic!(
            "compiling schemas/bindery.capnp failed: {e}\n\
             The Cap'n Proto compiler comes from Debian's `capnproto` package \
             (apt-get install capnproto); the README's set-up commands install it."
        );
    }
}
