fn main() {
    // Read at run time: a build-script binary cached in a shared target dir may be reused
    // by a clone at another path, and `env!` would point it at the old one.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let schemas = std::path::Path::new(&dir).join("../../schemas");
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
