// Writes an AccuracyResult for machines (JSON), for the docs (Markdown
// tables) and for people (an HTML page with SVG plots drawn here, no
// plotting library).
//
//   RETURN_IF_ERROR(WriteAccuracyReport(result, "build/accuracy", command));
//   // build/accuracy/accuracy.json, accuracy.md, accuracy.html, roc.svg,
//   // hist_<method>.svg (method name with every character other than a
//   // letter, digit or '-' turned into '_': hist_pdq_no_gate.svg)
//
// The Markdown opens with `command` (the exact command line that produced
// the result) so docs/accuracy.md says how to reproduce itself.
//
// Thread safety: pure functions, except WriteAccuracyReport, which writes
// files in `dir` (created if missing).
#ifndef HASHMATCH_SRC_EVAL_REPORT_H_
#define HASHMATCH_SRC_EVAL_REPORT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/eval/evaluation.h"

namespace hashmatch {
namespace eval {

std::string FormatAccuracyJson(const AccuracyResult& result,
                               absl::string_view command);
std::string FormatAccuracyMarkdown(const AccuracyResult& result,
                                   absl::string_view command);
std::string FormatAccuracyHtml(const AccuracyResult& result,
                               absl::string_view command);
// ROC of every method (pooled "all" set): recall against the false-positive
// rate of negatives and pairs together, log x axis from 1e-6 (rates of 0
// drawn at 1e-6).
std::string RocSvg(const AccuracyResult& result);
// Distance histograms of one method (pooled): matches (own distance of
// positives) and non-matches (negatives and pairs), as fractions of their
// class on a log y axis, with the default and the found threshold marked.
std::string HistogramSvg(const MethodScore& method);

// Errors: INTERNAL naming the file that could not be written.
absl::Status WriteAccuracyReport(const AccuracyResult& result,
                                 const std::string& dir,
                                 absl::string_view command);

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_REPORT_H_
