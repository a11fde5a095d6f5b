#include "src/eval/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace hashmatch {
namespace eval {
namespace {

constexpr const char* kColours[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    "#e377c2", "#17becf", "#000000", "#bcbd22", "#7f7f7f", "#aec7e8",
    "#393b79", "#e7ba52", "#843c39", "#637939", "#7b4173", "#ff9896"};
constexpr size_t kNumColours = sizeof(kColours) / sizeof(kColours[0]);

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

std::string JsonPoint(const OperatingPoint& p) {
  return absl::StrCat(
      "{\"threshold\":", p.threshold, ",\"precision\":", Num(p.precision),
      ",\"recall\":", Num(p.recall), ",\"fpr\":", Num(p.fpr),
      ",\"pair_fpr\":", Num(p.pair_fpr), ",\"tp\":", p.tp,
      ",\"fp_wrong\":", p.fp_wrong, ",\"fp_neg\":", p.fp_neg,
      ",\"fp_pairs\":", p.fp_pairs, ",\"positives\":", p.positives,
      ",\"negatives\":", p.negatives, ",\"pairs\":", p.pairs, "}");
}

std::vector<int> OwnDistances(const DistanceSet& set) {
  std::vector<int> own;
  for (const QueryDistances& q : set.positives) own.push_back(q.own);
  return own;
}

std::string JsonArray(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ","), "]");
}

std::string JsonScore(const TransformScore& s, bool with_curve,
                      absl::string_view key = "transform") {
  std::string out = absl::StrCat(
      "{\"", key, "\":", JsonString(s.transform),
      ",\"at_target\":", JsonPoint(s.at_target),
      ",\"at_default\":", JsonPoint(s.at_default),
      ",\"at_pooled_target\":", JsonPoint(s.at_pooled), ",\"histogram_match\":",
      JsonArray(Histogram(OwnDistances(s.distances), s.distances.bits)),
      ",\"histogram_nonmatch\":",
      JsonArray(Histogram(s.distances.negatives, s.distances.bits)));
  if (with_curve) {
    absl::StrAppend(&out, ",\"histogram_pairs\":",
                    JsonArray(Histogram(s.distances.pairs, s.distances.bits)),
                    ",\"roc\":[");
    bool first = true;
    for (const OperatingPoint& p : Curve(s.distances)) {
      absl::StrAppend(&out, first ? "" : ",", "[", p.threshold, ",",
                      Num(p.recall), ",", Num(p.fpr), ",", Num(p.pair_fpr), ",",
                      Num(p.precision), "]");
      first = false;
    }
    out += "]";
  }
  return out + "}";
}

std::string PrecisionText(double p) {
  return absl::StrFormat("%.6g%%", 100.0 * p);
}

std::string Pct(double v) { return absl::StrFormat("%.1f%%", 100.0 * v); }

std::string Rate(double v) {
  if (v == 0) return "0";
  return absl::StrFormat("%.2g", v);
}

std::string ThresholdText(int t) {
  return t < 0 ? std::string("none") : absl::StrCat(t);
}

// The combined false-positive rate of the pooled set (negatives and pairs).
double PooledFpr(const OperatingPoint& p) {
  const int64_t n = p.negatives + p.pairs;
  return n == 0 ? 0.0 : static_cast<double>(p.fp_neg + p.fp_pairs) / n;
}

std::string HtmlEscape(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}});
}

// Markdown tables; `html` turns them into HTML tables instead.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::string Markdown() const {
    std::string out = absl::StrCat("| ", absl::StrJoin(header, " | "), " |\n|");
    for (size_t i = 0; i < header.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& r : rows) {
      absl::StrAppend(&out, "| ", absl::StrJoin(r, " | "), " |\n");
    }
    return out;
  }
  std::string Html() const {
    std::string out = "<table>\n<tr>";
    for (const std::string& h : header) {
      absl::StrAppend(&out, "<th>", HtmlEscape(h), "</th>");
    }
    out += "</tr>\n";
    for (const auto& r : rows) {
      out += "<tr>";
      for (const std::string& c : r) {
        absl::StrAppend(&out, "<td>", HtmlEscape(c), "</td>");
      }
      out += "</tr>\n";
    }
    return out + "</table>\n";
  }
};

Table OverallTable(const AccuracyResult& r) {
  Table t;
  t.header = {"hasher",   "T* (P>=" + PrecisionText(r.target_precision) + ")",
              "recall",   "FPR",
              "pair FPR", "default T",
              "recall",   "precision",
              "FPR",      "pair FPR"};
  for (const MethodScore& m : r.methods) {
    const OperatingPoint& a = m.all.at_target;
    const OperatingPoint& d = m.all.at_default;
    t.rows.push_back({m.method, ThresholdText(a.threshold), Pct(a.recall),
                      Rate(a.fpr), Rate(a.pair_fpr), absl::StrCat(d.threshold),
                      Pct(d.recall), absl::StrFormat("%.4f", d.precision),
                      Rate(d.fpr), Rate(d.pair_fpr)});
  }
  return t;
}

// One row per transform, one column per method; `cell` formats one score.
template <typename F>
Table PerTransformTable(const AccuracyResult& r, F cell) {
  Table t;
  t.header = {"transform"};
  for (const MethodScore& m : r.methods) t.header.push_back(m.method);
  for (size_t i = 0; i < r.transforms.size(); ++i) {
    std::vector<std::string> row = {r.transforms[i]};
    for (const MethodScore& m : r.methods) row.push_back(cell(m.transforms[i]));
    t.rows.push_back(std::move(row));
  }
  std::vector<std::string> all = {"all (pooled)"};
  for (const MethodScore& m : r.methods) all.push_back(cell(m.all));
  t.rows.push_back(std::move(all));
  return t;
}

// One row per package (of the first method's list: every method scores the
// same originals), one column per method.
template <typename F>
Table PerPackageTable(const AccuracyResult& r, F cell) {
  Table t;
  t.header = {"package", "originals"};
  for (const MethodScore& m : r.methods) t.header.push_back(m.method);
  if (r.methods.empty()) return t;
  for (size_t i = 0; i < r.methods[0].packages.size(); ++i) {
    const TransformScore& first = r.methods[0].packages[i];
    const int64_t queries =
        first.at_default.positives + first.at_default.negatives;
    const int64_t transforms = std::max<int64_t>(1, r.transforms.size());
    std::vector<std::string> row = {
        first.transform,
        absl::StrCat(queries / transforms, " (",
                     first.at_default.positives / transforms, " vetted)")};
    for (const MethodScore& m : r.methods) {
      const bool scored =
          i < m.packages.size() && m.packages[i].at_default.positives > 0;
      row.push_back(scored ? cell(m.packages[i]) : std::string("-"));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string TargetCell(const TransformScore& s) {
  return s.at_pooled.threshold < 0 ? std::string("-") : Pct(s.at_pooled.recall);
}

std::string ThresholdRow(const AccuracyResult& r) {
  std::vector<std::string> parts;
  for (const MethodScore& m : r.methods) {
    parts.push_back(
        absl::StrCat(m.method, " ", ThresholdText(m.all.at_target.threshold)));
  }
  return absl::StrCat("T*: ", absl::StrJoin(parts, ", "),
                      ". (Each transform's own threshold, from its few "
                      "negatives alone, is in accuracy.json.)\n\n");
}

std::string DefaultCell(const TransformScore& s) {
  return absl::StrCat(Pct(s.at_default.recall), " / ", Rate(s.at_default.fpr));
}

std::string CorpusLine(const AccuracyResult& r) {
  return absl::StrCat(
      r.originals, " originals in ", r.groups, " groups (", r.vetted,
      " vetted, ", r.innocent, " innocent), ", r.transforms.size(),
      " transforms, so ", r.vetted * static_cast<int64_t>(r.transforms.size()),
      " positive and ", r.innocent * static_cast<int64_t>(r.transforms.size()),
      " negative queries per hasher (less failures), plus every pair of "
      "distinct-group originals; ",
      r.failures.size(), " failures; originals downscaled to ", r.max_side,
      " px; seed ", r.seed, ". Hashing took ",
      absl::StrFormat("%.0f", r.hash_seconds),
      " s, brute-force scoring of every hasher ",
      absl::StrFormat("%.1f", r.search_seconds), " s.");
}

constexpr char kDefinitions[] =
    "A query is a transformed copy, encoded as a file and hashed like an "
    "upload. Its distance to a vetted entry is the Hamming distance (for "
    "+dihedral methods the smallest over the query's 8 dihedral variants). "
    "At threshold T, a positive (a copy of a vetted photo) is a true "
    "positive when the nearest vetted entry is of its own group and within "
    "T (ties count for it); when another photo's entry is nearer and within "
    "T it is a false positive. A negative (a copy of an innocent photo) "
    "within T of any vetted entry is a false positive; so is a pair of "
    "distinct originals within T (pooled row only). precision = TP / (TP + "
    "all FP); recall = TP / positives; FPR = false-positive negatives / "
    "negatives; pair FPR = pairs within T / pairs. T* is the largest "
    "T whose precision on the pooled set is at least the target (the best "
    "recall at that precision); "
    "\"none\" when even T = 0 falls below. PDQ queries of quality under the "
    "gate match nothing (the service's rule); \"(no gate)\" rows score them "
    "anyway. Exact definitions: "
    "src/eval/metrics.h and src/eval/evaluation.h.";

}  // namespace

std::string FormatAccuracyJson(const AccuracyResult& r,
                               absl::string_view command) {
  std::string out =
      absl::StrCat("{\"command\":", JsonString(command),
                   ",\"corpus\":{\"originals\":", r.originals,
                   ",\"vetted\":", r.vetted, ",\"innocent\":", r.innocent,
                   ",\"groups\":", r.groups, ",\"failures\":[");
  for (size_t i = 0; i < r.failures.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", JsonString(r.failures[i]));
  }
  absl::StrAppend(
      &out, "]},\"options\":{\"target_precision\":", Num(r.target_precision),
      ",\"max_side\":", r.max_side, ",\"seed\":", r.seed,
      "},\"timing\":{\"hash_seconds\":", Num(r.hash_seconds),
      ",\"search_seconds\":", Num(r.search_seconds), "},\"transforms\":[");
  for (size_t i = 0; i < r.transforms.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", JsonString(r.transforms[i]));
  }
  out += "],\"methods\":[";
  for (size_t m = 0; m < r.methods.size(); ++m) {
    const MethodScore& s = r.methods[m];
    absl::StrAppend(&out, m ? "," : "", "{\"name\":", JsonString(s.method),
                    ",\"bits\":", s.bits,
                    ",\"default_threshold\":", s.default_threshold,
                    ",\"all\":", JsonScore(s.all, true), ",\"transforms\":[");
    for (size_t t = 0; t < s.transforms.size(); ++t) {
      absl::StrAppend(&out, t ? "," : "", JsonScore(s.transforms[t], false));
    }
    out += "],\"packages\":[";
    for (size_t p = 0; p < s.packages.size(); ++p) {
      absl::StrAppend(&out, p ? "," : "",
                      JsonScore(s.packages[p], false, "package"));
    }
    out += "]}";
  }
  return out + "]}\n";
}

std::string FormatAccuracyMarkdown(const AccuracyResult& r,
                                   absl::string_view command) {
  std::string out = absl::StrCat(
      "Produced by:\n\n```sh\n", command, "\n```\n\n", CorpusLine(r), "\n\n",
      kDefinitions, "\n\n### All transforms pooled\n\n",
      OverallTable(r).Markdown(),
      "\n### Recall per transform at T* (the pooled threshold for precision "
      ">= ",
      PrecisionText(r.target_precision), ")\n\n", ThresholdRow(r),
      PerTransformTable(r, TargetCell).Markdown(),
      "\n### Recall / FPR at the default threshold per transform\n\n",
      PerTransformTable(r, DefaultCell).Markdown(),
      "\n### Recall per source package at T* (all transforms)\n\n"
      "Each package's vetted photos' copies at the pooled T*; originals "
      "counted from the queries (FPRs and each package's own threshold are "
      "in accuracy.json).\n\n",
      PerPackageTable(r, TargetCell).Markdown(),
      "\n### Recall / FPR at the default threshold per source package\n\n",
      PerPackageTable(r, DefaultCell).Markdown());
  if (!r.failures.empty()) {
    out += "\nFailures (first 20):\n\n";
    for (size_t i = 0; i < r.failures.size() && i < 20; ++i) {
      absl::StrAppend(&out, "- ", r.failures[i], "\n");
    }
  }
  return out;
}

std::string RocSvg(const AccuracyResult& r) {
  constexpr int kW = 640, kH = 440, kL = 60, kR = 170, kT = 20, kB = 50;
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  auto x_of = [&](double fpr) {
    const double lx = std::log10(std::max(fpr, 1e-6));
    return kL + (lx + 6.0) / 6.0 * pw;
  };
  auto y_of = [&](double recall) { return kT + (1.0 - recall) * ph; };
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kW, kH);
  for (int e = -6; e <= 0; ++e) {
    const double x = x_of(std::pow(10.0, e));
    absl::StrAppend(
        &out,
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                        "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" "
                        "text-anchor=\"middle\">1e%d</text>\n",
                        x, kT, x, kH - kB, x, kH - kB + 16, e));
  }
  for (int k = 0; k <= 10; k += 2) {
    const double y = y_of(k / 10.0);
    absl::StrAppend(
        &out, absl::StrFormat("<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
                              "y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" "
                              "y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                              kL, y, kL + pw, y, kL - 6, y + 4, k / 10.0));
  }
  absl::StrAppend(
      &out,
      absl::StrFormat(
          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">false-positive "
          "rate (negatives and pairs; 0 drawn at 1e-6)</text>\n"
          "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
          "text-anchor=\"middle\">recall</text>\n",
          kL + pw / 2, kH - 10, kT + ph / 2, kT + ph / 2));
  for (size_t m = 0; m < r.methods.size(); ++m) {
    const MethodScore& s = r.methods[m];
    const char* colour = kColours[m % kNumColours];
    std::string points;
    for (const OperatingPoint& p : Curve(s.all.distances)) {
      absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", x_of(PooledFpr(p)),
                                               y_of(p.recall)));
    }
    absl::StrAppend(
        &out, absl::StrFormat(
                  "<polyline fill=\"none\" stroke=\"%s\" "
                  "stroke-width=\"1.5\" points=\"%s\"/>\n"
                  "<rect x=\"%.1f\" y=\"%d\" width=\"12\" height=\"3\" "
                  "fill=\"%s\"/><text x=\"%.1f\" y=\"%d\">%s</text>\n",
                  colour, points, kL + pw + 10, kT + 10 + 18 * int(m), colour,
                  kL + pw + 26, kT + 15 + 18 * int(m), HtmlEscape(s.method)));
  }
  return out + "</svg>\n";
}

std::string HistogramSvg(const MethodScore& s) {
  constexpr int kW = 640, kH = 300, kL = 60, kR = 20, kT = 30, kB = 45;
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  const int bits = s.all.distances.bits;
  auto x_of = [&](double d) { return kL + d / bits * pw; };
  auto y_of = [&](double frac) {
    const double ly = std::log10(std::max(frac, 1e-6));
    return kT + (-ly / 6.0) * ph;
  };
  std::vector<int> non_match = s.all.distances.negatives;
  non_match.insert(non_match.end(), s.all.distances.pairs.begin(),
                   s.all.distances.pairs.end());
  const std::vector<int64_t> match_hist =
      Histogram(OwnDistances(s.all.distances), bits);
  const std::vector<int64_t> non_hist = Histogram(non_match, bits);
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%d\" y=\"16\">%s: distance to the nearest vetted entry "
      "(fraction of class, log scale)</text>\n",
      kW, kH, kL, HtmlEscape(s.method));
  for (int e = 0; e >= -6; --e) {
    const double y = y_of(std::pow(10.0, e));
    absl::StrAppend(
        &out, absl::StrFormat("<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" "
                              "y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" "
                              "y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
                              kL, y, kL + pw, y, kL - 6, y + 4, e));
  }
  const int step = bits > 64 ? 32 : 8;
  for (int d = 0; d <= bits; d += step) {
    absl::StrAppend(&out, absl::StrFormat("<text x=\"%.1f\" y=\"%d\" "
                                          "text-anchor=\"middle\">%d</text>\n",
                                          x_of(d), kH - kB + 16, d));
  }
  auto bars = [&](const std::vector<int64_t>& hist, const char* colour) {
    int64_t total = 0;
    for (int64_t c : hist) total += c;
    if (total == 0) return;
    const double w = std::max(1.0, pw / (bits + 1));
    for (int d = 0; d <= bits; ++d) {
      if (hist[d] == 0) continue;
      const double y = y_of(static_cast<double>(hist[d]) / total);
      absl::StrAppend(
          &out, absl::StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                                "height=\"%.1f\" fill=\"%s\" "
                                "fill-opacity=\"0.55\"/>\n",
                                x_of(d), y, w, kT + ph - y, colour));
    }
  };
  bars(match_hist, "#1f77b4");
  bars(non_hist, "#d62728");
  auto marker = [&](int t, const char* colour, const char* label, int dy) {
    if (t < 0) return;
    absl::StrAppend(
        &out,
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                        "y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"4 "
                        "3\"/><text x=\"%.1f\" y=\"%d\" fill=\"%s\">%s "
                        "%d</text>\n",
                        x_of(t + 0.5), kT, x_of(t + 0.5), kT + ph, colour,
                        x_of(t + 0.5) + 3, kT + 12 + dy, colour, label, t));
  };
  marker(s.default_threshold, "#555", "default", 0);
  marker(s.all.at_target.threshold, "#2ca02c", "T*", 16);
  absl::StrAppend(
      &out, absl::StrFormat("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
                            "distance (blue: vetted copies to their own entry; "
                            "red: innocent queries and pairs)</text>\n",
                            kL + pw / 2, kH - 8));
  return out + "</svg>\n";
}

std::string FormatAccuracyHtml(const AccuracyResult& r,
                               absl::string_view command) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hashmatch "
      "accuracy</title>\n<style>body{font-family:sans-serif;max-width:1100px;"
      "margin:auto}table{border-collapse:collapse;font-size:13px}td,th{border:"
      "1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-"
      "align:left}</style></head><body>\n<h1>hashmatch accuracy</h1>\n<pre>",
      HtmlEscape(command), "</pre>\n<p>", HtmlEscape(CorpusLine(r)),
      "</p>\n<p>", HtmlEscape(kDefinitions), "</p>\n<h2>ROC</h2>\n", RocSvg(r),
      "<h2>All transforms pooled</h2>\n", OverallTable(r).Html(),
      "<h2>Recall per transform at T* (pooled, precision &gt;= ",
      PrecisionText(r.target_precision), ")</h2>\n<p>",
      HtmlEscape(ThresholdRow(r)), "</p>\n",
      PerTransformTable(r, TargetCell).Html(),
      "<h2>Recall / FPR at the default threshold</h2>\n",
      PerTransformTable(r, DefaultCell).Html(),
      "<h2>Recall per source package at T*</h2>\n",
      PerPackageTable(r, TargetCell).Html(),
      "<h2>Recall / FPR at the default threshold per source package</h2>\n",
      PerPackageTable(r, DefaultCell).Html(), "<h2>Distances</h2>\n");
  for (const MethodScore& m : r.methods) out += HistogramSvg(m);
  return out + "</body></html>\n";
}

absl::Status WriteAccuracyReport(const AccuracyResult& result,
                                 const std::string& dir,
                                 absl::string_view command) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  std::vector<std::pair<std::string, std::string>> files = {
      {"accuracy.json", FormatAccuracyJson(result, command)},
      {"accuracy.md", FormatAccuracyMarkdown(result, command)},
      {"accuracy.html", FormatAccuracyHtml(result, command)},
      {"roc.svg", RocSvg(result)},
  };
  for (const MethodScore& m : result.methods) {
    // "pdq+trim (no gate)" -> pdq_trim_no_gate, "pdq&phash" -> pdq-and-phash
    std::string name = absl::StrReplaceAll(m.method, {{"&", "-and-"}});
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    name = absl::StrReplaceAll(name, {{"__", "_"}});
    while (!name.empty() && name.back() == '_') name.pop_back();
    files.emplace_back(absl::StrCat("hist_", name, ".svg"), HistogramSvg(m));
  }
  for (const auto& [name, text] : files) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace eval
}  // namespace hashmatch
