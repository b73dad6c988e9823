//! Link settings of the shared library: its SONAME carries the major
//! version (`libcommit.so.0`), and a version script exports only the
//! `lc_*` functions.

fn main() {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{manifest_dir}/libcommit.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcommit.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={script}");
    // rustc exports every `#[no_mangle] extern "C"` function of every crate
    // linked in (object_store brings crc-fast's C API): symbols from the
    // dependencies' archives stay inside the library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    println!("cargo:rerun-if-changed=libcommit.map");
    println!("cargo:rerun-if-changed=build.rs");
}
