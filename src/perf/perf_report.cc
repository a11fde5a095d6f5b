#include "src/perf/perf_report.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace hashmatch {
namespace perf {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr double kTenMillion = 10e6;

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str().substr(0, 1 << 20);
}

// "%.Nf" with thousands separators for numbers >= 10000.
std::string Fmt(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  const std::string s = absl::StrFormat("%.*f", decimals, v);
  const size_t sign = s[0] == '-' ? 1 : 0;
  const size_t dot = std::min(s.find('.'), s.size());
  const size_t digits = dot - sign;
  if (digits <= 4) return s;
  std::string out = s.substr(0, sign);
  for (size_t i = 0; i < digits; ++i) {
    if (i > 0 && (digits - i) % 3 == 0) out.push_back(',');
    out.push_back(s[sign + i]);
  }
  out.append(s, dot, std::string::npos);
  return out;
}

// Three significant digits, at least the integer part.
std::string Sig(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 100) return Fmt(v, 0);
  if (a >= 10) return Fmt(v, 1);
  if (a >= 1) return Fmt(v, 2);
  return Fmt(v, 3);
}

std::string Ratio(double v) { return Sig(v) + "x"; }

// Text for a Markdown table cell: '|' escaped (GitHub tables split cells on
// it even inside code spans), newlines as spaces.
std::string Cell(absl::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Verdict(const std::optional<bool>& met) {
  if (!met.has_value()) return "not judged";
  return *met ? "**met**" : "**not met**";
}

std::string SizeNote(const IndexResult& x) {
  if (x.n == static_cast<int64_t>(kTenMillion)) return "";
  return absl::StrCat(" (stated at 10M codes; this run: ", Fmt(x.n, 0), ")");
}

const LoadLevel* BestHashesLevel(const LoadResult& load) {
  const LoadLevel* best = nullptr;
  for (const LoadLevel& l : load.levels) {
    if (l.rpc != "MatchHashes" || l.errors != 0 || l.p99_ms > 5) continue;
    if (best == nullptr || l.ok_rps > best->ok_rps) best = &l;
  }
  return best;
}

std::string ClipName(const VideoClip& c) {
  if (c.clip == "camera") return "camera (long GOPs, film grain)";
  if (c.clip == "phone") return "phone (1 s GOPs)";
  if (c.clip == "clean") return "clean (no grain)";
  return c.clip;
}

Value Num(double v) {
  Value out;
  if (std::isfinite(v)) {
    out.set_number_value(v);
  } else {
    out.set_null_value(google::protobuf::NULL_VALUE);
  }
  return out;
}
Value Str(absl::string_view s) {
  Value out;
  out.set_string_value(std::string(s));
  return out;
}
Value Bool(bool b) {
  Value out;
  out.set_bool_value(b);
  return out;
}
Value Obj(Struct s) {
  Value out;
  *out.mutable_struct_value() = std::move(s);
  return out;
}
Value List(std::vector<Value> items) {
  Value out;
  for (Value& v : items) *out.mutable_list_value()->add_values() = std::move(v);
  return out;
}
void Put(Struct* s, const std::string& key, Value v) {
  (*s->mutable_fields())[key] = std::move(v);
}
Value LatencyValue(const LatencyUs& l) {
  Struct s;
  Put(&s, "mean_us", Num(l.mean));
  Put(&s, "p50_us", Num(l.p50));
  Put(&s, "p99_us", Num(l.p99));
  return Obj(std::move(s));
}

}  // namespace

MachineInfo ParseMachineInfo(absl::string_view cpuinfo,
                             absl::string_view meminfo) {
  MachineInfo m;
  for (absl::string_view line : absl::StrSplit(cpuinfo, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view key =
        absl::StripAsciiWhitespace(line.substr(0, colon));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (key == "processor") ++m.cores;
    if (key == "model name" && m.cpu_model.empty()) {
      m.cpu_model = std::string(value);
    }
  }
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    if (!absl::ConsumePrefix(&line, "MemTotal:")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, "kB");
    double kb = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &kb)) {
      m.memory_gib = kb / (1024.0 * 1024.0);
    }
  }
  return m;
}

MachineInfo ReadMachineInfo() {
  MachineInfo m = ParseMachineInfo(ReadSmallFile("/proc/cpuinfo"),
                                   ReadSmallFile("/proc/meminfo"));
  m.kernel = std::string(
      absl::StripAsciiWhitespace(ReadSmallFile("/proc/sys/kernel/osrelease")));
  return m;
}

std::string ReadLoadAverage() {
  std::vector<std::string> f = absl::StrSplit(ReadSmallFile("/proc/loadavg"),
                                              ' ', absl::SkipWhitespace());
  if (f.size() < 3) return "";
  return absl::StrCat(f[0], " ", f[1], " ", f[2]);
}

std::vector<TargetCheck> CheckTargets(const PerfReport& r) {
  std::vector<TargetCheck> out;
  auto judge = [&r](bool met) -> std::optional<bool> {
    if (r.quick) return std::nullopt;
    return met;
  };
  if (r.hashing.has_value()) {
    std::vector<double> speedups;
    double ms_per_mp = 0;
    int with_mp = 0;
    for (const PdqRow& p : r.hashing->pdq) {
      if (!p.error.empty() || p.optimized_ms <= 0) continue;
      speedups.push_back(p.speedup);
      if (p.megapixels > 0) {
        ms_per_mp += p.optimized_ms / p.megapixels;
        ++with_mp;
      }
    }
    if (!speedups.empty()) {
      std::sort(speedups.begin(), speedups.end());
      out.push_back({"hashing", "full-res PDQ hash only >= 2x the baseline",
                     absl::StrCat("min ", Ratio(speedups.front()), ", median ",
                                  Ratio(speedups[speedups.size() / 2]),
                                  " over ", speedups.size(), " inputs"),
                     judge(speedups.front() >= 2)});
    }
    if (with_mp > 0) {
      const double at = ms_per_mp / with_mp * 4.35;
      out.push_back({"hashing",
                     "full-res PDQ hash only <= ~100 ms at 4.35 MP (the photo "
                     "set's mean size)",
                     absl::StrCat(Sig(at), " ms (mean ms per MP over ", with_mp,
                                  " inputs x 4.35)"),
                     judge(at <= 100)});
    }
    for (const auto& [mode, target] :
         std::vector<std::pair<std::string, double>>{{"pdq-cli512", 20},
                                                     {"pdq-fast", 50}}) {
      for (const HashBytesRow& h : r.hashing->hash_bytes) {
        if (h.mode != mode || h.input != "medium_1920x1080" ||
            !h.error.empty() || h.ms <= 0) {
          continue;
        }
        const double rate = 1000 / h.ms;
        out.push_back(
            {"hashing",
             absl::StrCat(mode, " with decode >= ", target,
                          " images/s on 1 thread (the photo set's figure is "
                          "photo_set_bench's)"),
             absl::StrCat(Sig(rate), " images/s on the 1920x1080 JPEG"),
             judge(rate >= target)});
      }
    }
  }
  if (r.index.has_value()) {
    const IndexResult& x = *r.index;
    const bool exact = x.missed == 0 && x.extra == 0 &&
                       x.binary_index_mismatches == 0 &&
                       x.faiss_mismatches == 0;
    const double vs_faiss = x.faiss_interleaved.mean / x.mih_back_to_back.mean;
    const double vs_faiss_cold =
        x.faiss_interleaved.mean / x.mih_interleaved.mean;
    out.push_back(
        {"index",
         absl::StrCat(">= 100x IndexBinaryFlat's single-query rate at 100% "
                      "recall, r = 31",
                      SizeNote(x)),
         absl::StrCat(Ratio(vs_faiss), " back to back, ", Ratio(vs_faiss_cold),
                      " cold; recall ", exact ? "100%" : "NOT exact"),
         judge(exact && vs_faiss >= 100)});
    const double vs_flat = x.flat_back_to_back.mean / x.mih_back_to_back.mean;
    out.push_back(
        {"index",
         absl::StrCat("towards 100x our popcount FlatScan", SizeNote(x)),
         absl::StrCat(Ratio(vs_flat), " back to back, ",
                      Ratio(x.flat_interleaved.mean / x.mih_interleaved.mean),
                      " cold"),
         judge(vs_flat >= 100)});
    out.push_back(
        {"index", absl::StrCat("index RSS <= 1 GB", SizeNote(x)),
         absl::StrCat("BinaryIndex +", Fmt(x.binary_index_rss_mb, 0), " MB"),
         judge(x.binary_index_rss_mb <= 1024)});
  }
  if (r.load.has_value()) {
    const LoadLevel* best = BestHashesLevel(*r.load);
    bool any_hashes = false;
    for (const LoadLevel& l : r.load->levels) {
      any_hashes = any_hashes || l.rpc == "MatchHashes";
    }
    if (any_hashes) {
      std::string result =
          best == nullptr
              ? std::string("no level had p99 <= 5 ms without errors")
              : absl::StrCat(Fmt(best->ok_rps, 0), " RPC/s at concurrency ",
                             best->concurrency, " (p99 ", Fmt(best->p99_ms, 2),
                             " ms)");
      // On a shared machine the CPU per call is steadier than the rate: the
      // busiest level's server + client CPU bounds what idle cores can do.
      const LoadLevel* busiest = nullptr;
      for (const LoadLevel& l : r.load->levels) {
        if (l.rpc == "MatchHashes" &&
            (busiest == nullptr || l.concurrency > busiest->concurrency)) {
          busiest = &l;
        }
      }
      if (busiest != nullptr && busiest->srv_us > 0 && r.machine.cores > 0) {
        absl::StrAppend(
            &result, "; CPU per call at concurrency ", busiest->concurrency,
            ": ", Fmt(busiest->srv_us, 0), " us server + ",
            Fmt(busiest->cli_us, 0), " us client, so ", r.machine.cores,
            " idle cores allow at most ",
            Fmt(r.machine.cores * 1e6 / (busiest->srv_us + busiest->cli_us), 0),
            " RPC/s");
      }
      out.push_back({"rpc", "MatchHashes >= 10k RPC/s with p99 <= 5 ms",
                     std::move(result),
                     judge(best != nullptr && best->ok_rps >= 10000)});
    }
    if (r.load->image_baseline.has_value()) {
      const ImageBaseline& b = *r.load->image_baseline;
      out.push_back({"rpc",
                     "MatchImage >= 80% of in-process decode+hash (same run)",
                     absl::StrCat(Fmt(b.percent_of_in_process, 0), "% (",
                                  Sig(b.best_image_rps), " RPC/s vs ",
                                  Sig(b.images_per_s_mean), " images/s)"),
                     judge(b.percent_of_in_process >= 80)});
    }
  }
  if (r.video.has_value()) {
    for (const VideoClip& c : r.video->clips) {
      const VideoRow& def = c.rows[1];
      out.push_back(
          {"video",
           absl::StrCat("60 s of 720p hashed in <= 2 CPU s on one core: ",
                        ClipName(c)),
           absl::StrCat(Sig(def.cpu_s_per_min), " s per minute (",
                        Ratio(def.speedup), " the baseline)"),
           judge(def.cpu_s_per_min <= 2)});
    }
  }
  return out;
}

std::string RenderMarkdown(const PerfReport& r) {
  std::string md;
  absl::StrAppend(&md, "## Latest `hashmatch eval perf` run\n\n",
                  "Written by `hashmatch eval perf --update_docs` between "
                  "the `eval perf` markers (rerun the command rather than "
                  "editing it). "
                  "Ratios compare numbers measured in this same run.\n\n");
  const MachineInfo& m = r.machine;
  absl::StrAppend(&md, "- Date: ", r.date_utc, "; wall time ",
                  Fmt(r.total_seconds, 0), " s", r.quick ? " (--quick)" : "",
                  "\n");
  absl::StrAppend(
      &md, "- Machine: ", m.cpu_model.empty() ? "unknown CPU" : m.cpu_model,
      ", ", m.cores, " cores, ", Fmt(m.memory_gib, 1), " GiB RAM",
      m.kernel.empty() ? "" : absl::StrCat(", Linux ", m.kernel),
      "; load average ", r.load_start.empty() ? "?" : r.load_start,
      " at the start, ", r.load_end.empty() ? "?" : r.load_end,
      " at the end\n");
  absl::StrAppend(&md, "- Build: ", r.build_type, "; commit ",
                  r.git_commit.empty() ? "unknown" : r.git_commit, "\n");
  absl::StrAppend(&md, "- Command:\n\n```sh\n", r.command, "\n```\n\n");
  if (!r.runs.empty()) {
    absl::StrAppend(&md,
                    "Each benchmark program as it ran ($WORK: the run's "
                    "temporary directory, removed at the end):\n\n"
                    "| benchmark | wall s | command |\n|---|---:|---|\n");
    for (const BenchRun& b : r.runs) {
      absl::StrAppend(&md, "| ", b.name, " | ", Fmt(b.wall_seconds, 1), " | `",
                      Cell(b.command), "` |\n");
    }
    md += "\n";
  }

  const std::vector<TargetCheck> targets = CheckTargets(r);
  if (!targets.empty()) {
    absl::StrAppend(&md, "### Targets", r.quick ? " (not judged: --quick)" : "",
                    "\n\n| area | target | this run | verdict |\n"
                    "|---|---|---|---|\n");
    for (const TargetCheck& t : targets) {
      absl::StrAppend(&md, "| ", t.area, " | ", t.target, " | ", t.result,
                      " | ", Verdict(t.met), " |\n");
    }
    md += "\n";
  }

  if (r.hashing.has_value()) {
    absl::StrAppend(
        &md,
        "### PDQ hashing (hashing_benchmark)\n\n"
        "PDQ hash only, from decoded pixels, CPU ms per hash; the baseline is "
        "bench/pdq_baseline (the reference's loop structure), checked to give "
        "the same hash.\n\n"
        "| input | MP | baseline ms | PDQ ms | speedup |\n"
        "|---|---:|---:|---:|---:|\n");
    for (const PdqRow& p : r.hashing->pdq) {
      if (!p.error.empty()) {
        absl::StrAppend(&md, "| ", p.input, " | | | | skipped: ", Cell(p.error),
                        " |\n");
        continue;
      }
      absl::StrAppend(&md, "| ", p.input, " | ", Fmt(p.megapixels, 2), " | ",
                      Sig(p.baseline_ms), " | ", Sig(p.optimized_ms), " | ",
                      Ratio(p.speedup), " |\n");
    }
    if (!r.hashing->hash_bytes.empty()) {
      absl::StrAppend(
          &md,
          "\nDecode + hash (ImageHasher::HashBytes), CPU ms per "
          "image, one thread:\n\n"
          "| mode | input | ms | images/s |\n|---|---|---:|---:|\n");
      for (const HashBytesRow& h : r.hashing->hash_bytes) {
        if (!h.error.empty()) {
          absl::StrAppend(&md, "| ", h.mode, " | ", h.input,
                          " | | skipped: ", Cell(h.error), " |\n");
          continue;
        }
        absl::StrAppend(&md, "| ", h.mode, " | ", h.input, " | ", Sig(h.ms),
                        " | ", Sig(1000 / h.ms), " |\n");
      }
    }
    md += "\n";
  }

  if (r.index.has_value()) {
    const IndexResult& x = *r.index;
    absl::StrAppend(
        &md, "### Search index (index_benchmark)\n\n", Fmt(x.n, 0), " ",
        x.codes, " PDQ codes, range r = ", x.radius,
        ", single queries on one thread (", x.queries, " queries; FAISS ",
        x.faiss_queries,
        "). Cold: the methods take turns on each query, so MIH starts with "
        "its tables evicted; warm: each method alone, back to back.\n\n"
        "| method | mean us | p50 us | p99 us | queries/s | MIH (warm) is "
        "faster by |\n|---|---:|---:|---:|---:|---:|\n");
    const double mih = x.mih_back_to_back.mean;
    auto row = [&md, mih](const char* name, const LatencyUs& l) {
      absl::StrAppend(&md, "| ", name, " | ", Sig(l.mean), " | ", Sig(l.p50),
                      " | ", Sig(l.p99), " | ", Fmt(1e6 / l.mean, 0), " | ",
                      Ratio(l.mean / mih), " |\n");
    };
    row("MihIndex, warm", x.mih_back_to_back);
    row("MihIndex, cold", x.mih_interleaved);
    row("FlatScan (hardware popcount), warm", x.flat_back_to_back);
    row("FlatScan, cold", x.flat_interleaved);
    row("FAISS IndexBinaryFlat (1 OpenMP thread)", x.faiss_interleaved);
    row("BinaryIndex dihedral (8 queries)", x.binary_index_dihedral);
    absl::StrAppend(
        &md, "\nRecall: ", x.true_matches - x.missed, " of ", x.true_matches,
        " true matches (", x.extra, " extra; BinaryIndex mismatches ",
        x.binary_index_mismatches, ", FAISS count mismatches ",
        x.faiss_mismatches, "). Throughput: MihIndex ", Fmt(x.mih_qps_1t, 0),
        " / ", Fmt(x.mih_qps_2t, 0), " q/s, BinaryIndex ",
        Fmt(x.binary_index_qps_1t, 0), " / ", Fmt(x.binary_index_qps_2t, 0),
        " q/s on 1 / 2 threads. Build: MihIndex ", Sig(x.mih_build_s), " s, +",
        Fmt(x.mih_rss_mb, 0), " MB; BinaryIndex ", Sig(x.binary_index_build_s),
        " s, +", Fmt(x.binary_index_rss_mb, 0), " MB.\n\n");
  }

  if (r.load.has_value()) {
    absl::StrAppend(&md, "### Match server load (match_load)\n\n");
    if (r.store.has_value()) {
      absl::StrAppend(
          &md, "A match_server on a store of ", Fmt(r.store->entries, 0),
          " realistic PDQ entries (made by match_load "
          "--make_store in ",
          Sig(r.store->seconds), " s), client and server on this machine; ");
    }
    absl::StrAppend(
        &md, Sig(r.load->duration_s),
        " s per level after a 1 s warm-up. MatchHashes: one hash per call, "
        "about 1% near-duplicates of stored entries. srv_us / cli_us: CPU "
        "microseconds per call of the server and of the client.\n\n"
        "| rpc | concurrency | ok RPC/s | p50 ms | p99 ms | max ms | errors | "
        "srv_us | cli_us |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const LoadLevel& l : r.load->levels) {
      absl::StrAppend(&md, "| ", l.rpc, " | ", l.concurrency, " | ",
                      Fmt(l.ok_rps, 0), " | ", Fmt(l.p50_ms, 2), " | ",
                      Fmt(l.p99_ms, 2), " | ", Fmt(l.max_ms, 1), " | ",
                      l.errors, " | ", l.srv_us < 0 ? "-" : Fmt(l.srv_us, 0),
                      " | ", Fmt(l.cli_us, 0), " |\n");
    }
    if (r.load->image_baseline.has_value()) {
      const ImageBaseline& b = *r.load->image_baseline;
      absl::StrAppend(
          &md,
          "\nMatchImage against in-process decode+hash of the same "
          "photos (pdq with dihedral variants, md5, sha256; ",
          b.threads, " threads, before and after the levels): best level ",
          Sig(b.best_image_rps), " RPC/s vs ", Sig(b.images_per_s_mean),
          " images/s = ", Fmt(b.percent_of_in_process, 0), "%; ",
          Fmt(b.cpu_us_per_image / 1000, 1), " CPU ms per image in process.\n");
    }
    md += "\n";
  }

  if (r.video.has_value()) {
    absl::StrAppend(
        &md, "### Video hashing (video_hash_bench)\n\n", r.video->seconds,
        " s clips of 1280x720 h264 at 30 fps made with ffmpeg from "
        "mate-backgrounds photos; one decoder thread, CPU seconds, fastest "
        "of the repeats. Baseline: decode and convert every frame.\n\n"
        "| clip | Mbit/s | mode | CPU s per minute | frames decoded | "
        "sampled | vs baseline |\n|---|---:|---|---:|---:|---:|---:|\n");
    for (const VideoClip& c : r.video->clips) {
      for (size_t i = 0; i < c.rows.size(); ++i) {
        const VideoRow& w = c.rows[i];
        absl::StrAppend(&md, "| ", i == 0 ? ClipName(c) : "", " | ",
                        i == 0 ? Fmt(c.mbit_s, 1) : "", " | ", w.mode, " | ",
                        Sig(w.cpu_s_per_min), " | ", w.decoded, " | ",
                        w.sampled, " | ", Ratio(w.speedup), " |\n");
      }
    }
    md += "\n";
  }
  while (absl::EndsWith(md, "\n\n")) md.pop_back();
  return md;
}

std::string RenderJson(const PerfReport& r) {
  Struct root;
  Struct machine;
  Put(&machine, "cpu_model", Str(r.machine.cpu_model));
  Put(&machine, "cores", Num(r.machine.cores));
  Put(&machine, "memory_gib", Num(r.machine.memory_gib));
  Put(&machine, "kernel", Str(r.machine.kernel));
  Put(&root, "machine", Obj(std::move(machine)));
  Put(&root, "build_type", Str(r.build_type));
  Put(&root, "git_commit", Str(r.git_commit));
  Put(&root, "date_utc", Str(r.date_utc));
  Put(&root, "command", Str(r.command));
  Put(&root, "quick", Bool(r.quick));
  Put(&root, "load_average_start", Str(r.load_start));
  Put(&root, "load_average_end", Str(r.load_end));
  Put(&root, "total_seconds", Num(r.total_seconds));
  std::vector<Value> runs;
  for (const BenchRun& b : r.runs) {
    Struct s;
    Put(&s, "name", Str(b.name));
    Put(&s, "command", Str(b.command));
    Put(&s, "wall_seconds", Num(b.wall_seconds));
    runs.push_back(Obj(std::move(s)));
  }
  Put(&root, "runs", List(std::move(runs)));
  std::vector<Value> targets;
  for (const TargetCheck& t : CheckTargets(r)) {
    Struct s;
    Put(&s, "area", Str(t.area));
    Put(&s, "target", Str(t.target));
    Put(&s, "result", Str(t.result));
    Value met;
    if (t.met.has_value()) {
      met = Bool(*t.met);
    } else {
      met.set_null_value(google::protobuf::NULL_VALUE);
    }
    Put(&s, "met", std::move(met));
    targets.push_back(Obj(std::move(s)));
  }
  Put(&root, "targets", List(std::move(targets)));
  if (r.hashing.has_value()) {
    Struct h;
    std::vector<Value> pdq;
    for (const PdqRow& p : r.hashing->pdq) {
      Struct s;
      Put(&s, "input", Str(p.input));
      Put(&s, "megapixels", Num(p.megapixels));
      Put(&s, "baseline_ms", Num(p.baseline_ms));
      Put(&s, "optimized_ms", Num(p.optimized_ms));
      Put(&s, "speedup", Num(p.speedup));
      if (!p.error.empty()) Put(&s, "error", Str(p.error));
      pdq.push_back(Obj(std::move(s)));
    }
    Put(&h, "pdq", List(std::move(pdq)));
    std::vector<Value> bytes;
    for (const HashBytesRow& b : r.hashing->hash_bytes) {
      Struct s;
      Put(&s, "mode", Str(b.mode));
      Put(&s, "input", Str(b.input));
      Put(&s, "ms", Num(b.ms));
      if (!b.error.empty()) Put(&s, "error", Str(b.error));
      bytes.push_back(Obj(std::move(s)));
    }
    Put(&h, "hash_bytes", List(std::move(bytes)));
    Put(&root, "hashing", Obj(std::move(h)));
  }
  if (r.index.has_value()) {
    const IndexResult& x = *r.index;
    Struct s;
    Put(&s, "n", Num(static_cast<double>(x.n)));
    Put(&s, "codes", Str(x.codes));
    Put(&s, "radius", Num(static_cast<double>(x.radius)));
    Put(&s, "mih_warm", LatencyValue(x.mih_back_to_back));
    Put(&s, "mih_cold", LatencyValue(x.mih_interleaved));
    Put(&s, "flat_scan_warm", LatencyValue(x.flat_back_to_back));
    Put(&s, "flat_scan_cold", LatencyValue(x.flat_interleaved));
    Put(&s, "faiss_flat", LatencyValue(x.faiss_interleaved));
    Put(&s, "binary_index_dihedral", LatencyValue(x.binary_index_dihedral));
    Put(&s, "ratio_faiss_to_mih_warm",
        Num(x.faiss_interleaved.mean / x.mih_back_to_back.mean));
    Put(&s, "ratio_flat_to_mih_warm",
        Num(x.flat_back_to_back.mean / x.mih_back_to_back.mean));
    Put(&s, "mih_qps_1t", Num(x.mih_qps_1t));
    Put(&s, "mih_qps_2t", Num(x.mih_qps_2t));
    Put(&s, "binary_index_rss_mb", Num(x.binary_index_rss_mb));
    Put(&s, "true_matches", Num(static_cast<double>(x.true_matches)));
    Put(&s, "missed", Num(static_cast<double>(x.missed)));
    Put(&root, "index", Obj(std::move(s)));
  }
  if (r.load.has_value()) {
    Struct s;
    if (r.store.has_value()) {
      Put(&s, "store_entries", Num(static_cast<double>(r.store->entries)));
      Put(&s, "store_seconds", Num(r.store->seconds));
    }
    Put(&s, "duration_s", Num(r.load->duration_s));
    std::vector<Value> levels;
    for (const LoadLevel& l : r.load->levels) {
      Struct v;
      Put(&v, "rpc", Str(l.rpc));
      Put(&v, "concurrency", Num(static_cast<double>(l.concurrency)));
      Put(&v, "ok_rps", Num(l.ok_rps));
      Put(&v, "p50_ms", Num(l.p50_ms));
      Put(&v, "p99_ms", Num(l.p99_ms));
      Put(&v, "max_ms", Num(l.max_ms));
      Put(&v, "errors", Num(static_cast<double>(l.errors)));
      Put(&v, "srv_us", Num(l.srv_us));
      Put(&v, "cli_us", Num(l.cli_us));
      levels.push_back(Obj(std::move(v)));
    }
    Put(&s, "levels", List(std::move(levels)));
    if (r.load->image_baseline.has_value()) {
      const ImageBaseline& b = *r.load->image_baseline;
      Struct v;
      Put(&v, "images_per_s", Num(b.images_per_s_mean));
      Put(&v, "best_image_rps", Num(b.best_image_rps));
      Put(&v, "percent_of_in_process", Num(b.percent_of_in_process));
      Put(&s, "image_baseline", Obj(std::move(v)));
    }
    Put(&root, "rpc", Obj(std::move(s)));
  }
  if (r.video.has_value()) {
    Struct s;
    Put(&s, "seconds", Num(static_cast<double>(r.video->seconds)));
    std::vector<Value> clips;
    for (const VideoClip& c : r.video->clips) {
      Struct v;
      Put(&v, "clip", Str(c.clip));
      Put(&v, "mbit_s", Num(c.mbit_s));
      std::vector<Value> rows;
      for (const VideoRow& w : c.rows) {
        Struct x;
        Put(&x, "mode", Str(w.mode));
        Put(&x, "cpu_s_per_min", Num(w.cpu_s_per_min));
        Put(&x, "decoded", Num(static_cast<double>(w.decoded)));
        Put(&x, "sampled", Num(static_cast<double>(w.sampled)));
        Put(&x, "speedup", Num(w.speedup));
        rows.push_back(Obj(std::move(x)));
      }
      Put(&v, "rows", List(std::move(rows)));
      clips.push_back(Obj(std::move(v)));
    }
    Put(&s, "clips", List(std::move(clips)));
    Put(&root, "video", Obj(std::move(s)));
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(root, &out, options).ok()) {
    return "{}\n";
  }
  if (!absl::EndsWith(out, "\n")) out += "\n";
  return out;
}

absl::StatusOr<std::string> ReplaceMarkedBlock(absl::string_view doc,
                                               absl::string_view block) {
  const std::string marked =
      absl::StrCat(kBeginMarker, "\n", block,
                   absl::EndsWith(block, "\n") ? "" : "\n", kEndMarker);
  const size_t begin = doc.find(kBeginMarker);
  const size_t end = doc.find(kEndMarker);
  auto twice = [&doc](size_t at, absl::string_view marker) {
    return at != absl::string_view::npos &&
           doc.find(marker, at + marker.size()) != absl::string_view::npos;
  };
  if (twice(begin, kBeginMarker) || twice(end, kEndMarker)) {
    return absl::InvalidArgumentError(
        "the eval perf markers appear more than once; fix the file by hand");
  }
  if ((begin == absl::string_view::npos) != (end == absl::string_view::npos)) {
    return absl::InvalidArgumentError(
        absl::StrCat("only one of the markers ", kBeginMarker, " and ",
                     kEndMarker, " is in the file; fix it by hand"));
  }
  if (begin != absl::string_view::npos) {
    if (end < begin) {
      return absl::InvalidArgumentError(
          "the eval perf end marker comes before the begin marker");
    }
    return absl::StrCat(doc.substr(0, begin), marked,
                        doc.substr(end + std::strlen(kEndMarker)));
  }
  if (doc.empty()) return absl::StrCat("# Performance\n\n", marked, "\n");
  // Before the first heading line after the first line (the title).
  size_t at = doc.find('\n');
  bool in_fence = false;
  while (at != absl::string_view::npos) {
    const size_t line = at + 1;
    if (line >= doc.size()) break;
    const absl::string_view rest = doc.substr(line);
    if (absl::StartsWith(rest, "```")) in_fence = !in_fence;
    if (!in_fence && absl::StartsWith(rest, "#")) {
      return absl::StrCat(doc.substr(0, line), marked, "\n\n",
                          doc.substr(line));
    }
    at = doc.find('\n', line);
  }
  return absl::StrCat(doc, absl::EndsWith(doc, "\n") ? "\n" : "\n\n", marked,
                      "\n");
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create a temporary file next to ", path, ": ",
                     std::strerror(errno)));
  }
  size_t done = 0;
  bool ok = true;
  while (ok && done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int e = errno;
  struct stat old;
  const mode_t mode =
      stat(path.c_str(), &old) == 0 ? (old.st_mode & 07777) : 0644;
  ok = ok && fchmod(fd, mode) == 0 && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e2 = ok ? errno : e;
    unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(e2)));
  }
  return absl::OkStatus();
}

}  // namespace perf
}  // namespace hashmatch
