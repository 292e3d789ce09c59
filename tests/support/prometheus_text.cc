#include "support/prometheus_text.h"

#include <cstdlib>
#include <sstream>

namespace ringway::testsupport {

Scrape::Scrape(std::string t) : text(std::move(t)) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    const std::size_t sp = line.rfind(' ');
    if (sp == std::string::npos)
      continue;
    const std::string series = line.substr(0, sp);
    values[series] = std::strtod(line.c_str() + sp + 1, nullptr);
    order.push_back(series);
  }
}

std::optional<double> Scrape::find(const std::string& series) const {
  const auto it = values.find(series);
  if (it == values.end())
    return std::nullopt;
  return it->second;
}

double Scrape::sum(const std::string& name, const std::vector<std::string>& pieces) const {
  double s = 0;
  for (const auto& [series, v] : values) {
    if (series.compare(0, name.size() + 1, name + "{") != 0 && series != name)
      continue;
    bool all = true;
    for (const std::string& p : pieces)
      all = all && series.find(p, name.size()) != std::string::npos;
    if (all)
      s += v;
  }
  return s;
}

std::optional<double> sample(const std::string& text, const std::string& series) {
  return Scrape(text).find(series);
}

double sumOf(const std::string& text, const std::string& name,
             const std::vector<std::string>& labels) {
  return Scrape(text).sum(name, labels);
}

std::map<std::string, std::string> familyTypes(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0)
      continue;
    std::istringstream f(line.substr(7));
    std::string name, type;
    f >> name >> type;
    out[name] = type;
  }
  return out;
}

} // namespace ringway::testsupport
