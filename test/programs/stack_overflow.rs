// Overflows the main thread's stack: Rust's runtime catches the fault on its
// guard page, on an alternate signal stack it sets up at start, and says so.
use std::hint::black_box;

fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 4096]);
    recurse(depth + 1) + frame[(depth % 4096) as usize] as u64
}

fn main() {
    println!("overflowing");
    black_box(recurse(0));
}
