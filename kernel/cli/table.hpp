// Text tables for the terminal and Markdown: `ebmlab report`'s output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ebm::cli {

/// A number in 4 significant digits ("nan" for NaN).
std::string short_num(double v);

/// Display width of UTF-8 text ("±" is two bytes, one column).
size_t columns_of(const std::string& s);

/// Prints `cells` (the first row is the header) as aligned columns, or as a Markdown table:
/// the first two columns left-aligned, the others right-aligned.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& cells, bool markdown);

}  // namespace ebm::cli
