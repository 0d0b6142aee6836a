#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bindery_fuzz::cron(data));
