use collectors::folded::FoldedStacks;
use std::time::Instant;
use tui::fixtures::synthetic_folded;
fn main() {
    let f = synthetic_folded(100_000, 7);
    let text = f.to_text();
    println!("text {} MB", text.len() / 1_000_000);
    let t = Instant::now();
    let p = FoldedStacks::parse(&text, "x").unwrap();
    println!("parse {:?}", t.elapsed());
    let t = Instant::now();
    let tree = tui::flame::FlameTree::from_folded(&p);
    println!("tree {:?} nodes {}", t.elapsed(), tree.len());
    let t = Instant::now();
    let ft = flamegraph::functions::function_table(&p, None);
    println!("functions {:?} {}", t.elapsed(), ft.rows.len());
}
