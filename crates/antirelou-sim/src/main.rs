//! The `antirelou-sim` command line.
fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "paris-2017".into());
    let t = std::time::Instant::now();
    let s = antirelou_sim::Scenario::load(&name).unwrap();
    let tr = s.generate(s.seed).unwrap();
    eprintln!("generated {} events in {:?}", tr.events.len(), t.elapsed());
    let r = antirelou_sim::replay::replay(&s, None).unwrap();
    println!("{}", serde_json::to_string_pretty(&r.report).unwrap());
    eprintln!("{:?} total", t.elapsed());
}
