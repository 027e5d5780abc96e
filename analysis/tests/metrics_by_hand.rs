use mimimi_analysis::{input, metrics};

#[test]
#[ignore]
fn print_run() {
    let dir = std::env::var("MIMIMI_RUN_DIR").unwrap();
    let t = std::time::Instant::now();
    let run = input::load(std::path::Path::new(&dir)).unwrap();
    let a = metrics::analyze(&run);
    eprintln!("elapsed {:?}", t.elapsed());
    for r in &a.metrics {
        eprintln!(
            "{} {} {} {} {:.3} {}/{}",
            r.mode,
            r.observer,
            r.scope.as_str(),
            r.metric,
            r.value,
            r.numerator,
            r.denominator
        );
    }
    for r in &a.attribution {
        eprintln!("{:?}", r);
    }
}

#[test]
#[ignore]
fn print_memberships() {
    let dir = std::env::var("MIMIMI_RUN_DIR").unwrap();
    let run = input::load(std::path::Path::new(&dir)).unwrap();
    let obs = metrics::observers(&run);
    for mode in &run.modes {
        let truth = metrics::TruthIndex::new(mode);
        for o in &obs {
            let v = metrics::ObserverView::new(o, mode, &truth);
            for m in &v.memberships {
                if m.seen {
                    eprintln!(
                        "{} {} {} {} scored={} lr={} items={} clusters={} disclosed={}",
                        mode.mode,
                        o.name,
                        m.user,
                        m.room,
                        m.scored,
                        m.last_resort,
                        m.items.len(),
                        m.clusters.len(),
                        m.disclosed
                    );
                }
            }
        }
    }
}
