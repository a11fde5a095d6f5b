#include "tools/eval_command.h"

#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/eval/evaluation.h"
#include "src/eval/manifest.h"
#include "src/eval/report.h"
#include "tools/commands.h"
#include "tools/flags.h"

namespace hashmatch {
namespace cli {
namespace {

constexpr int64_t kMaxThreads = 256;
constexpr int64_t kMaxLimit = int64_t{1} << 40;

int Usage(std::ostream& err, absl::string_view message) {
  err << "hashmatch eval: " << message << "\n";
  PrintUsage(err);
  return kExitUsage;
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "hashmatch eval: " << status.message() << "\n";
  return kExitFailure;
}

std::string QuoteArg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\"'$\\") == std::string::npos) return a;
  std::string out = "'";
  for (char c : a) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

int RunAccuracyCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  for (const char* name :
       {"corpus", "manifest", "out", "write_manifest", "write-manifest",
        "hashers", "transforms", "limit", "threads", "max_side", "seed",
        "target_precision", "max_image_bytes", "max_image_pixels",
        "also_ungated"}) {
    parser.AddValue(name);
  }
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) return Usage(err, flags.status().message());
  if (flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return Usage(err, absl::StrCat("unexpected argument '",
                                   flags->positional()[0], "'"));
  }
  std::optional<std::string> write_manifest = flags->Get("write_manifest");
  if (!write_manifest) write_manifest = flags->Get("write-manifest");
  const std::optional<std::string> corpus = flags->Get("corpus");
  const std::optional<std::string> manifest_file = flags->Get("manifest");
  const std::optional<std::string> out_dir = flags->Get("out");
  if (corpus.has_value() == manifest_file.has_value()) {
    return Usage(err, "give exactly one of --corpus and --manifest");
  }
  if (write_manifest && !corpus) {
    return Usage(err, "--write_manifest needs --corpus");
  }
  if (!write_manifest && !out_dir) return Usage(err, "--out is required");

  eval::ManifestOptions manifest_options;
  eval::EvalOptions options;
  absl::StatusOr<int64_t> max_bytes =
      flags->GetInt("max_image_bytes", 1, kMaxLimit,
                    static_cast<int64_t>(kDefaultMaxEncodedBytes));
  if (!max_bytes.ok()) return Usage(err, max_bytes.status().message());
  manifest_options.max_file_bytes = *max_bytes;
  options.decode.max_encoded_bytes = static_cast<size_t>(*max_bytes);
  absl::StatusOr<int64_t> max_pixels =
      flags->GetInt("max_image_pixels", 1, kMaxLimit, kDefaultMaxPixels);
  if (!max_pixels.ok()) return Usage(err, max_pixels.status().message());
  options.decode.max_pixels = *max_pixels;

  std::vector<eval::ManifestEntry> manifest;
  if (corpus) {
    std::vector<std::string> dirs =
        absl::StrSplit(*corpus, ',', absl::SkipEmpty());
    absl::StatusOr<std::vector<eval::ManifestEntry>> built =
        eval::BuildManifest(dirs, manifest_options);
    if (!built.ok()) return Fail(err, built.status());
    manifest = *std::move(built);
    if (write_manifest) {
      absl::Status s = eval::WriteManifestFile(manifest, *write_manifest);
      if (!s.ok()) return Fail(err, s);
      out << "wrote " << manifest.size() << " entries to " << *write_manifest
          << "\n";
      if (!out_dir) return kExitOk;
    }
  } else {
    absl::StatusOr<std::vector<eval::ManifestEntry>> read =
        eval::ReadManifestFile(*manifest_file, manifest_options);
    if (!read.ok()) return Fail(err, read.status());
    manifest = *std::move(read);
  }

  absl::StatusOr<std::vector<const eval::MethodSpec*>> methods =
      eval::ParseMethodList(flags->Get("hashers").value_or("all"));
  if (!methods.ok()) return Usage(err, methods.status().message());
  options.methods = *std::move(methods);
  absl::StatusOr<std::vector<const eval::TransformSpec*>> transforms =
      eval::ParseTransformList(flags->Get("transforms").value_or("all"));
  if (!transforms.ok()) return Usage(err, transforms.status().message());
  options.transforms = *std::move(transforms);
  if (std::optional<std::string> u = flags->Get("also_ungated")) {
    options.ungated_methods.clear();
    if (*u != "none") {
      options.ungated_methods = absl::StrSplit(*u, ',', absl::SkipEmpty());
    }
  }
  const unsigned hw = std::thread::hardware_concurrency();
  absl::StatusOr<int64_t> threads =
      flags->GetInt("threads", 1, kMaxThreads, hw == 0 ? 1 : hw);
  if (!threads.ok()) return Usage(err, threads.status().message());
  options.threads = static_cast<int>(*threads);
  absl::StatusOr<int64_t> limit = flags->GetInt("limit", 0, kMaxLimit, 0);
  if (!limit.ok()) return Usage(err, limit.status().message());
  options.limit = *limit;
  absl::StatusOr<int64_t> max_side =
      flags->GetInt("max_side", 16, 1 << 16, options.max_side);
  if (!max_side.ok()) return Usage(err, max_side.status().message());
  options.max_side = static_cast<int>(*max_side);
  absl::StatusOr<int64_t> seed = flags->GetInt("seed", 0, kMaxLimit, 1);
  if (!seed.ok()) return Usage(err, seed.status().message());
  options.seed = static_cast<uint64_t>(*seed);
  if (std::optional<std::string> p = flags->Get("target_precision")) {
    double v = 0;
    if (!absl::SimpleAtod(*p, &v) || !(v > 0 && v <= 1)) {
      return Usage(err, "--target_precision must be in (0, 1]");
    }
    options.target_precision = v;
  }
  std::mutex err_mu;
  options.progress = [&](int64_t done, int64_t total) {
    if (done % 50 == 0 || done == total) {
      std::lock_guard<std::mutex> lock(err_mu);
      err << "hashmatch eval: " << done << "/" << total << " originals\n";
      err.flush();
    }
  };

  absl::StatusOr<eval::AccuracyResult> result =
      eval::RunAccuracy(manifest, options);
  if (!result.ok()) return Fail(err, result.status());
  std::error_code ec;
  std::filesystem::create_directories(*out_dir, ec);
  if (corpus) {
    absl::Status s =
        eval::WriteManifestFile(manifest, *out_dir + "/manifest.tsv");
    if (!s.ok()) err << "hashmatch eval: " << s.message() << "\n";
  }
  std::vector<std::string> quoted = {"hashmatch", "eval", "accuracy"};
  for (const std::string& a : args) quoted.push_back(QuoteArg(a));
  absl::Status written =
      eval::WriteAccuracyReport(*result, *out_dir, absl::StrJoin(quoted, " "));
  if (!written.ok()) return Fail(err, written);
  for (const eval::MethodScore& m : result->methods) {
    out << m.method << "\tT=" << m.all.at_target.threshold
        << "\trecall@P=" << m.all.at_target.recall
        << "\tdefault T=" << m.default_threshold
        << "\trecall=" << m.all.at_default.recall
        << "\tfpr=" << m.all.at_default.fpr << "\n";
  }
  out << "wrote " << *out_dir << "/accuracy.{json,md,html}\n";
  return kExitOk;
}

}  // namespace

int RunEval(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  if (args.empty()) return Usage(err, "eval needs a subcommand (accuracy)");
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "accuracy") return RunAccuracyCommand(rest, out, err);
  return Usage(err, absl::StrCat("unknown eval subcommand '", args[0], "'"));
}

}  // namespace cli
}  // namespace hashmatch
