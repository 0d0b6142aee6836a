//! Exports the bindery entry point with an ABI version no host speaks. The table holds only
//! the version: a host that read further than the version would crash, which is the point.

#[repr(C)]
pub struct Header {
    abi_version: u32,
}

static HEADER: Header = Header { abi_version: 999 };

/// The entry point, of a future ABI.
#[no_mangle]
pub extern "C" fn bindery_plugin_entry() -> *const Header {
    &HEADER
}
