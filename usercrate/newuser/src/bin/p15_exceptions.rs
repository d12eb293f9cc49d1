//! Port of py/p15_exceptions.py: exceptions raised in jobs, caught at `result()`.
use zeroproc::{JobError, Pool};

fn parse_age(s: String) -> Result<i64, String> {
    let age: i64 = s.parse().map_err(|e| format!("invalid literal {s:?}: {e}"))?;
    if age < 0 {
        return Err(format!("negative age {age}"));
    }
    Ok(age)
}

#[zeroproc::main]
fn main() {
    let pool = Pool::builder().workers(2).build().unwrap();
    let futs: Vec<_> = ["42", "-3", "7"]
        .into_iter()
        .map(|s| (s, pool.submit_fallible(parse_age, s.to_string())))
        .collect();
    let mut failed = None;
    for (s, f) in futs {
        match f.result() {
            Ok(age) => println!("{s} -> {age}"),
            Err(JobError::Job(e)) => println!("{s} -> error: {e}"),
            Err(e) => {
                println!("{s} -> error: {e}");
                failed = Some(e);
            }
        }
    }
    let again = pool.submit_fallible(parse_age, "-3".to_string());
    println!("exception(): {:?}", again.exception());
    let _ = failed;
}
