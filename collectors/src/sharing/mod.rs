//! Page-sharing analysis: how much memory is identical page for page.
