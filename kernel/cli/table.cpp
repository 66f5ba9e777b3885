#include "cli/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ebm::cli {

std::string short_num(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

size_t columns_of(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& cells, bool markdown) {
  std::vector<size_t> width(cells[0].size(), 0);
  for (auto& r : cells)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], columns_of(r[i]));
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = markdown ? "| " : "";
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string& c = r[i];
      bool left = i < 2;
      std::string pad(width[i] - columns_of(c), ' ');
      s += left ? c + pad : pad + c;
      if (i + 1 < r.size()) s += markdown ? " | " : "  ";
    }
    if (markdown) s += " |";
    while (!markdown && !s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(cells[0]);
  std::string sep = markdown ? "|" : "";
  for (size_t i = 0; i < width.size(); ++i) {
    if (markdown)
      sep += (i < 2 ? std::string(width[i] + 2, '-') : std::string(width[i] + 1, '-') + ":") + "|";
    else
      sep += std::string(width[i], '-') + (i + 1 < width.size() ? "  " : "");
  }
  out << sep << "\n";
  for (size_t r = 1; r < cells.size(); ++r) line(cells[r]);
}

}  // namespace ebm::cli
