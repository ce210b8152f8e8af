//! Rendering of result bundles: flamegraph SVGs, cycle tables, charts,
//! comparisons and exports. Reads bundles only; never calls into the sentry.
