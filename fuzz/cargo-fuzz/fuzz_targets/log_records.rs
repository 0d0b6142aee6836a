#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bindery_fuzz::log_records(data));
