#include "tools/eval_command.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/common/file_util.h"
#include "src/common/stderr_capture.h"
#include "src/eval/evaluation.h"
#include "src/eval/manifest.h"
#include "src/eval/report.h"
#include "src/perf/perf_report.h"
#include "src/perf/perf_runner.h"
#include "src/perf/process.h"
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

// Counts the image libraries' messages (stderr_capture.h) while `eval
// accuracy` runs; every other stderr line goes on to the original stderr
// unchanged. OnLine runs on the capture's thread, the rest on the command's.
class LibraryMessageCounter {
 public:
  void OnLine(absl::string_view line) {
    std::optional<LibraryMessage> m = ClassifyLibraryMessage(line);
    std::lock_guard<std::mutex> lock(mu_);
    if (m.has_value()) {
      ++counts_[{std::move(m->library), std::move(m->summary)}];
      return;
    }
    absl::StrAppend(&held_, line, "\n");
    if (fd_ >= 0) FlushHeldLocked();
  }

  // Where the other lines go (those that arrived before are written now).
  void SetPassthrough(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    fd_ = fd;
    FlushHeldLocked();
  }

  // One line per message, most frequent first:
  // "hashmatch eval: 37 messages from libpng: libpng warning: iCCP: ...".
  std::string Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<int64_t, const Key*>> order;
    for (const auto& [key, n] : counts_) order.emplace_back(-n, &key);
    std::sort(order.begin(), order.end());
    std::string text;
    for (const auto& [minus_n, key] : order) {
      absl::StrAppend(&text, "hashmatch eval: ", -minus_n,
                      minus_n == -1 ? " message" : " messages", " from ",
                      key->first, ": ", key->second, "\n");
    }
    return text;
  }

 private:
  using Key = std::pair<std::string, std::string>;  // Library, summary.

  void FlushHeldLocked() {
    absl::string_view rest = held_;
    while (!rest.empty()) {
      const ssize_t n = write(fd_, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // The original stderr is gone: drop the text.
      rest.remove_prefix(static_cast<size_t>(n));
    }
    held_.clear();
  }

  std::mutex mu_;
  int fd_ = -1;                    // GUARDED_BY(mu_)
  std::string held_;               // GUARDED_BY(mu_)
  std::map<Key, int64_t> counts_;  // GUARDED_BY(mu_)
};

int RunAccuracyUncaptured(const std::vector<std::string>& args,
                          std::ostream& out, std::ostream& err);

// `eval accuracy` with the libraries' stderr messages (libpng warns once per
// PNG with a known incorrect sRGB profile: thousands of lines on the Debian
// corpus) counted and summarised once at the end.
int RunAccuracyCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  LibraryMessageCounter counter;
  absl::StatusOr<std::unique_ptr<StderrCapture>> capture = StderrCapture::Start(
      [&counter](absl::string_view line) { counter.OnLine(line); });
  if (capture.ok()) {
    counter.SetPassthrough((*capture)->original_fd());
  } else {
    err << absl::StrCat("hashmatch eval: library messages are not summarised: ",
                        capture.status().message(), "\n");
  }
  const int code = RunAccuracyUncaptured(args, out, err);
  err.flush();
  if (capture.ok()) (*capture)->Stop();
  err << counter.Summary();
  err.flush();
  return code;
}

int RunAccuracyUncaptured(const std::vector<std::string>& args,
                          std::ostream& out, std::ostream& err) {
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
      // One string, so that the line reaches stderr in one write and no
      // library message from another thread lands inside it.
      std::lock_guard<std::mutex> lock(err_mu);
      err << absl::StrCat("hashmatch eval: ", done, "/", total, " originals\n");
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

// The directory of the running binary (/proc/self/exe), or "".
std::string ExeDir() {
  std::error_code ec;
  const std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

// `git rev-parse HEAD` in the current directory (with a note when the tree
// has uncommitted changes other than the report files `own`), or "" when
// that fails.
std::string GitCommit(const std::vector<std::string>& own) {
  perf::ProcessOptions po;
  po.timeout = absl::Seconds(20);
  po.search_path = true;
  absl::StatusOr<perf::ProcessResult> head =
      perf::RunProcess({"git", "rev-parse", "HEAD"}, po);
  if (!head.ok() || head->exit_code != 0) return "";
  std::string commit(absl::StripAsciiWhitespace(head->out));
  std::vector<std::string> argv = {
      "git", "status", "--porcelain", "--untracked-files=no", "--", "."};
  for (const std::string& path : own) {
    argv.push_back(absl::StrCat(":(exclude)", path));
  }
  absl::StatusOr<perf::ProcessResult> status = perf::RunProcess(argv, po);
  if (status.ok() && status->exit_code == 0 &&
      !absl::StripAsciiWhitespace(status->out).empty()) {
    absl::StrAppend(&commit, " (with uncommitted changes)");
  }
  return commit;
}

absl::StatusOr<double> GetDouble(const ParsedFlags& flags,
                                 absl::string_view name, double min, double max,
                                 double fallback) {
  std::optional<std::string> v = flags.Get(name);
  if (!v) return fallback;
  double d = 0;
  if (!absl::SimpleAtod(*v, &d) || !(d >= min && d <= max)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " must be a number in [", min, ", ", max, "]"));
  }
  return d;
}

int RunPerfCommand(const std::vector<std::string>& args, std::ostream& out,
                   std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  parser.AddBool("quick");
  parser.AddBool("update_docs");
  for (const char* name : {"bench_dir",
                           "match_server",
                           "out",
                           "json",
                           "benchmarks",
                           "timeout_seconds",
                           "git_commit",
                           "hashing_filter",
                           "hashing_min_time",
                           "index_n",
                           "index_codes",
                           "index_queries",
                           "rpc_store_n",
                           "rpc_seconds",
                           "hashes_concurrency",
                           "image_concurrency",
                           "images",
                           "video_seconds",
                           "video_clips",
                           "video_repeats",
                           "video_dir"}) {
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
  // Only a full-size run, asked for, rewrites the committed figures.
  const bool update_docs = flags->Has("update_docs");
  if (update_docs && flags->Has("quick")) {
    return Usage(err,
                 "--update_docs records full-size figures in "
                 "docs/performance.md; --quick runs toy sizes (drop one)");
  }
  if (flags->Get("out").has_value() && !update_docs) {
    return Usage(err, "--out names the file --update_docs rewrites");
  }
  perf::PerfOptions options;
  if (flags->Has("quick")) options = perf::QuickOptions(options);
  const std::string exe_dir = ExeDir();
  options.bench_dir = flags->Get("bench_dir")
                          .value_or(std::filesystem::path(exe_dir + "/../bench")
                                        .lexically_normal()
                                        .string());
  options.match_server =
      flags->Get("match_server")
          .value_or(std::filesystem::path(exe_dir + "/../src/server/"
                                                    "match_server")
                        .lexically_normal()
                        .string());
  if (std::optional<std::string> b = flags->Get("benchmarks")) {
    options.benchmarks = absl::StrSplit(*b, ',', absl::SkipEmpty());
    if (options.benchmarks.empty()) {
      return Usage(err,
                   "--benchmarks names none of hashing, index, rpc, video");
    }
    for (const std::string& name : options.benchmarks) {
      if (name != "hashing" && name != "index" && name != "rpc" &&
          name != "video") {
        return Usage(err, absl::StrCat("unknown benchmark '", name,
                                       "' (hashing, index, rpc, video)"));
      }
    }
  }
  absl::StatusOr<int64_t> timeout =
      flags->GetInt("timeout_seconds", 1, 7 * 86400, 600);
  if (!timeout.ok()) return Usage(err, timeout.status().message());
  options.timeout = absl::Seconds(*timeout);
  options.hashing_filter =
      flags->Get("hashing_filter").value_or(options.hashing_filter);
  absl::StatusOr<double> min_time = GetDouble(*flags, "hashing_min_time", 0.001,
                                              60, options.hashing_min_time);
  if (!min_time.ok()) return Usage(err, min_time.status().message());
  options.hashing_min_time = *min_time;
  absl::StatusOr<int64_t> index_n =
      flags->GetInt("index_n", 1000, 100000000, options.index_n);
  if (!index_n.ok()) return Usage(err, index_n.status().message());
  options.index_n = *index_n;
  options.index_codes = flags->Get("index_codes").value_or(options.index_codes);
  if (options.index_codes != "random" && options.index_codes != "clustered" &&
      options.index_codes != "realistic") {
    return Usage(err, "--index_codes must be random, clustered or realistic");
  }
  absl::StatusOr<int64_t> queries =
      flags->GetInt("index_queries", 2, 1000000, options.index_queries);
  if (!queries.ok()) return Usage(err, queries.status().message());
  options.index_queries = *queries;
  options.index_faiss_queries =
      std::min(options.index_faiss_queries, options.index_queries);
  absl::StatusOr<int64_t> store_n =
      flags->GetInt("rpc_store_n", 100, 100000000, options.rpc_store_n);
  if (!store_n.ok()) return Usage(err, store_n.status().message());
  options.rpc_store_n = *store_n;
  absl::StatusOr<double> rpc_seconds =
      GetDouble(*flags, "rpc_seconds", 0.5, 3600, options.rpc_seconds);
  if (!rpc_seconds.ok()) return Usage(err, rpc_seconds.status().message());
  options.rpc_seconds = *rpc_seconds;
  for (auto [name, field] :
       {std::pair<const char*, std::string*>{"hashes_concurrency",
                                             &options.hashes_concurrency},
        {"image_concurrency", &options.image_concurrency}}) {
    std::optional<std::string> v = flags->Get(name);
    if (!v) continue;
    for (absl::string_view level : absl::StrSplit(*v, ',')) {
      if (!ParseInt(level, 1, 64, name).ok()) {
        return Usage(err, absl::StrCat("--", name,
                                       " takes levels 1..64 separated by "
                                       "commas"));
      }
    }
    *field = *v;
  }
  options.images_dir = flags->Get("images").value_or(options.images_dir);
  absl::StatusOr<int64_t> video_seconds =
      flags->GetInt("video_seconds", 1, 60, options.video_seconds);
  if (!video_seconds.ok()) return Usage(err, video_seconds.status().message());
  if (*video_seconds > 10 && *video_seconds % 10 != 0) {
    return Usage(err, "--video_seconds must be 1-10 or a multiple of 10");
  }
  options.video_seconds = static_cast<int>(*video_seconds);
  options.video_clips = flags->Get("video_clips").value_or(options.video_clips);
  for (absl::string_view clip : absl::StrSplit(options.video_clips, ',')) {
    if (clip != "camera" && clip != "phone" && clip != "clean") {
      return Usage(err, "--video_clips takes camera, phone and clean");
    }
  }
  absl::StatusOr<int64_t> repeats =
      flags->GetInt("video_repeats", 1, 100, options.video_repeats);
  if (!repeats.ok()) return Usage(err, repeats.status().message());
  options.video_repeats = static_cast<int>(*repeats);
  options.video_dir = flags->Get("video_dir").value_or("");

  // The files written, checked before anything runs: the JSON report, and
  // with --update_docs the Markdown file whose block is replaced.
  // Default: perf.json in the build directory (next to tools/), out of the
  // checkout's tracked files.
  const std::string json_path = flags->Get("json").value_or(
      exe_dir.empty() ? std::string("perf.json")
                      : std::filesystem::path(exe_dir + "/../perf.json")
                            .lexically_normal()
                            .string());
  std::error_code ec;
  {
    const std::filesystem::path parent =
        std::filesystem::path(json_path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      return Fail(
          err, absl::NotFoundError(absl::StrCat("the directory of --json ",
                                                json_path, " does not exist")));
    }
  }
  const std::optional<std::string> out_flag = flags->Get("out");
  const std::string out_path = out_flag.value_or("docs/performance.md");
  std::string old_doc;
  if (!update_docs) {
    // Nothing to check: the Markdown goes to stdout.
  } else if (std::filesystem::exists(out_path, ec)) {
    absl::StatusOr<std::string> text = ReadFileToString(out_path, 64 << 20);
    if (!text.ok()) return Fail(err, text.status());
    old_doc = *std::move(text);
    absl::StatusOr<std::string> check =
        perf::ReplaceMarkedBlock(old_doc, "check\n");
    if (!check.ok()) {
      return Fail(err, absl::Status(check.status().code(),
                                    absl::StrCat(out_path, ": ",
                                                 check.status().message())));
    }
  } else if (!out_flag) {
    return Fail(err, absl::NotFoundError(
                         "docs/performance.md is not in the current "
                         "directory: run from the checkout's root, or give "
                         "--out FILE (a new file is created)"));
  } else {
    const std::filesystem::path parent =
        std::filesystem::path(out_path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      return Fail(
          err, absl::NotFoundError(absl::StrCat("the directory of --out ",
                                                out_path, " does not exist")));
    }
  }

  std::mutex err_mu;
  options.progress = [&](absl::string_view line) {
    std::lock_guard<std::mutex> lock(err_mu);
    err << "hashmatch eval perf: " << line << "\n";
    err.flush();
  };
  // Children run in their own process groups, so Ctrl-C reaches only this
  // process: it stops them and removes the temporary directory.
  options.cancel = perf::CancelOnSignals();
  absl::StatusOr<perf::PerfReport> report = perf::RunPerf(options);
  if (!report.ok()) {
    err << "hashmatch eval perf: "
        << absl::StatusCodeToString(report.status().code()) << ": "
        << report.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<std::string> quoted = {"hashmatch", "eval", "perf"};
  quoted.insert(quoted.end(), args.begin(), args.end());
  report->command = perf::ShellQuote(quoted);
  report->quick = flags->Has("quick");
  report->build_type = HASHMATCH_BUILD_TYPE;
  std::vector<std::string> own = {json_path};
  if (update_docs) own.push_back(out_path);
  report->git_commit = flags->Get("git_commit").value_or(GitCommit(own));
  report->date_utc = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(),
                                      absl::UTCTimeZone());

  const std::string markdown = perf::RenderMarkdown(*report);
  absl::Status written =
      perf::WriteFileAtomically(json_path, perf::RenderJson(*report));
  if (!written.ok()) return Fail(err, written);
  if (update_docs) {
    absl::StatusOr<std::string> doc =
        perf::ReplaceMarkedBlock(old_doc, markdown);
    if (!doc.ok()) return Fail(err, doc.status());
    written = perf::WriteFileAtomically(out_path, *doc);
    if (!written.ok()) return Fail(err, written);
  } else {
    out << markdown << "\n";
  }
  for (const perf::TargetCheck& t : perf::CheckTargets(*report)) {
    out << t.area << "\t"
        << (t.met.has_value() ? (*t.met ? "met" : "NOT MET") : "not judged")
        << "\t" << t.target << "\t" << t.result << "\n";
  }
  out << "wrote " << json_path;
  if (update_docs) out << " and " << out_path;
  out << " (" << static_cast<int>(report->total_seconds) << " s)\n";
  return kExitOk;
}

}  // namespace

int RunEval(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  if (args.empty()) {
    return Usage(err, "eval needs a subcommand (accuracy, perf)");
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "accuracy") return RunAccuracyCommand(rest, out, err);
  if (args[0] == "perf") return RunPerfCommand(rest, out, err);
  return Usage(err, absl::StrCat("unknown eval subcommand '", args[0], "'"));
}

}  // namespace cli
}  // namespace hashmatch
