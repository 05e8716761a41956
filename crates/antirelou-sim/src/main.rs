//! The `antirelou-sim` command line.
fn main() {
    let t = std::time::Instant::now();
    let mut ok = 0;
    for i in 0..100_000u64 {
        let s = format!("+336{:08}", (i * 7919) % 100_000_000);
        if antirelou_core::PhoneNumber::parse(&s).is_ok() {
            ok += 1;
        }
    }
    println!("{ok} in {:?}", t.elapsed());
}
