//! How long `validate` takes on large scenarios: `cargo bench --bench validate`. Validation
//! must stay linear in the size of the file (100,000 users in well under 2 s on a 2-core
//! machine).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mimimi_sim::scenario::parse_str;

/// A scenario of `users` users over 10 providers, with a connect for every second user and a
/// room of 20 for every 100 users (its creator connected to the 19 others first).
fn scenario(users: usize) -> String {
    let mut s = String::from("name = \"big\"\nmodes = [\"mimi\", \"mimimi\"]\n");
    for p in 0..10 {
        s += &format!("[[provider]]\ndomain = \"p{p}.example\"\n");
    }
    for u in 0..users {
        s += &format!(
            "[[user]]\nname = \"u{u}\"\nprovider = \"p{}.example\"\nclients = {}\n",
            u % 10,
            1 + u % 3
        );
    }
    for u in (0..users - 1).step_by(2) {
        s += &format!(
            "[[action]]\nat = \"{}ms\"\nconnect = {{ from = \"u{u}\", to = \"u{}\" }}\n",
            u,
            u + 1
        );
    }
    for r in 0..users / 100 {
        // The creator, an odd user, connects to the 19 even users it adds.
        let creator = r * 100 + 1;
        for k in 1..20 {
            s += &format!(
                "[[action]]\nat = \"{users}s\"\nconnect = {{ from = \"u{creator}\", to = \"u{}\" }}\n",
                r * 100 + 2 * k
            );
        }
        let members: Vec<String> = (1..20)
            .map(|k| format!("\"u{}\"", r * 100 + 2 * k))
            .collect();
        s += &format!(
            "[[action]]\nat = \"{}s\"\ncreate_room = {{ room = \"r{r}\", by = \"u{creator}\", members = [{}] }}\n",
            users + 1,
            members.join(", ")
        );
    }
    s
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    for users in [10_000, 100_000] {
        let text = scenario(users);
        group.bench_with_input(BenchmarkId::from_parameter(users), &text, |b, text| {
            b.iter(|| parse_str(text, "big.toml").expect("valid"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
