//! The study's figures of a bundle drawn as SVG charts: the mmap-path
//! charts of [`crate::charts::study_charts`] (Figures 3, 6, 9) and, for
//! bundles with malloc points, Figure 1 ([`crate::malloc_figure`]).

use bundle::RunJson;

use crate::charts::{line_chart, study_charts, Chart};
use crate::error::Result;
use crate::malloc_figure::{malloc_chart, malloc_rows};

/// Draw the study's figures of a bundle; returns the charts and the notes
/// for the figures that were skipped.
pub fn draw_study_charts(run: &RunJson) -> Result<(Vec<Chart>, Vec<String>)> {
    let (mut specs, notes) = study_charts(run);
    // Figure 1 only for bundles with malloc points (no note otherwise: an
    // mmap bundle is not missing it).
    specs.extend(malloc_chart(&malloc_rows(run)));
    let mut out = Vec::with_capacity(specs.len());
    for (stem, spec) in specs {
        out.push(Chart {
            stem,
            title: spec.title.clone(),
            svg: line_chart(&spec)?,
        });
    }
    Ok((out, notes))
}
