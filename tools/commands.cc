#include "tools/commands.h"

#include <bit>
#include <cstdint>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/pdq.h"
#include "tools/flags.h"
#include "tools/hash_files.h"
#include "tools/output.h"
#include "tools/video_command.h"

namespace hashmatch {
namespace cli {
namespace {

constexpr int kDefault64BitThreshold = 10;
constexpr int64_t kMaxThreads = 256;
constexpr int64_t kMaxLimit = int64_t{1} << 40;

constexpr char kUsage[] = R"(usage:
  hashmatch hash [--algo LIST] [--dihedral] [--json] [--threads N]
                 [--max_image_bytes N] [--max_image_pixels N] FILE...
      Hashes image files. LIST is comma-separated, from: pdq (default),
      pdq-cli512, pdq-fast, phash, dhash, md5, sha256. Text output is one
      line per file and algorithm: PATH, ALGORITHM, HEX, QUALITY ("-" when
      the algorithm has none), tab-separated; --dihedral appends
      "dihedral=HEX,...x8" to PDQ lines (order: original, rotate90,
      rotate180, rotate270, flipx, flipy, flipplus1, flipminus1). --json
      prints one JSON object per file per line instead. Limits default to
      32 MiB per file and 64 megapixels; N threads default to the CPU count.
  hashmatch hash --video [--sample_interval S] [--scene_threshold X]
                 [--min_quality N] [--near_duplicate_distance N]
                 [--keep_black_bars] [--skip_loop_filter] [--decode_threads N]
                 [--max_video_bytes N] [--max_video_seconds S]
                 [--max_video_frames N] [--max_video_width N]
                 [--max_video_height N] [--max_video_pixels N]
                 [--max_decode_seconds S] FILE...
      vPDQ frame hashes of video files (mp4, mov, mkv, webm, avi, gif), one
      line per kept frame in vPDQ's format FRAME,QUALITY,PDQ_HEX,SECONDS
      (3 decimals); with several files each line starts with PATH and a tab.
      Samples one frame per S seconds (1; 0 = every frame) plus scene
      changes (mean luma difference over X of 255, 40; 0 = off); drops
      frames of quality under N (50) and frames within N bits of the last
      kept one (2; -1 keeps all); crops black bars unless --keep_black_bars.
      Limits: 256 MiB, 7200 s, 500000 frames, 8192x8192 and 8192*4320
      pixels, 120 s of decoding; decoder threads 1.
  hashmatch compare [--threshold N] HEX HEX
      Hamming distance of two hashes of the same length (64 hex digits:
      256 bits, threshold 31; 16: 64 bits, threshold 10; 32: md5,
      threshold 0). Exit 0 on a match, 1 otherwise.
  hashmatch pairs [--algo ALGO] [--threshold N] [--threads N] FILE...
      Hashes the files with one perceptual ALGO (pdq, pdq-cli512, pdq-fast,
      phash or dhash; default pdq) and prints every pair within the
      threshold (default 31 for PDQ, 10 for phash/dhash).
  hashmatch db stats DIR
      Counts of the hash store in DIR per signal type and vetting state,
      last change sequence and next entry id.
  hashmatch db verify [--snapshot_dir SNAP] DIR
      Builds the search indexes from the store's ACTIVE entries (or loads
      the index snapshot files in SNAP and catches up) and checks that every
      ACTIVE entry is indexed and nothing else is; prints counts per signal
      type, up to 100 missing and extra ids each, and the sequences. Exit 0
      when consistent, 1 otherwise. The db commands open the store read-only
      and work while a server holds it.
  hashmatch db dump [--limit N] DIR
      One JSON object per entry per line (tombstones included), in id order.
  hashmatch db digest DIR
      SHA-256 over every entry (tombstones included) in id order and the
      last sequence: equal on a primary and its converged followers.
      The db commands never create a store: a missing DIR is an error.
  hashmatch match --server ADDR [--token T | --token_file F] [--tls_ca F [--tls_cert F
                  --tls_key F] [--tls_server_name N]] [--hashes] [--json]
                  [--timeout_ms N] [--max_file_bytes N] [--video] FILE...
      Asks a match_server (ADDR host:port) about each file, in order:
      MatchImage with the file's bytes, or with --hashes MatchHashes with
      its PDQ, MD5 and SHA-256 computed here (no media is sent). Prints one
      line per file: PATH, VERDICT, RULE, best match ("entry=ID signal=S
      distance=D [variant=V]" or "-"), index_sequence=N, tab-separated;
      --json prints {"path":...,"response":{...}} (or "error") per line.
      The token (sent as "authorization: Bearer T") defaults to
      $HASHMATCH_TOKEN. TLS when --tls_ca is given; --tls_cert/--tls_key
      add a client certificate (mTLS). Errors per file on stderr with the
      gRPC code name. Timeout per RPC 30000 ms; files over 64 MiB are not
      read. --video: each file is a video, streamed with MatchVideo in 1 MiB
      chunks (with --hashes: sampled and hashed here, only its vPDQ frame
      hashes sent); the line then ends "frames=N index_sequence=N" and the
      best match shows query=P% compared=P% for a video entry.
      Exit 0: all answered, none MATCH; 1: some file failed, none
      MATCH; 3: at least one MATCH.
  hashmatch import --format csv|jsonl|hashmatch [--dry_run] [--server ADDR
                   CLIENT_FLAGS] [--batch_size N] [--max_file_bytes N]
                   [--max_rows N] [--max_errors N] FILE
      Validates every row of a hash list (docs/ingestion.md, "Import and
      export": columns, keys, limits) and, only if ALL rows are good,
      submits it with IngestService.Submit in batches of N (500). A bad
      file: every error as FILE:LINE: message (up to --max_errors, 100),
      nothing submitted, exit 1. Idempotent by external id: rows without
      one get "<signal>:<hex>", so re-running an interrupted import
      completes it without duplicates. From a hashmatch (lossless) file,
      retracted entries are skipped; ids, times, states and agencies are
      the server's. --dry_run validates only. Limits: 1 GiB file, 10M rows.
  hashmatch import --format vpdq|video [--dry_run] [--server ADDR
                   CLIENT_FLAGS] [--external_id ID] [--classification C]
                   [--note N] [--max_file_bytes N] [--max_rows N] FILE
      One video entry (docs/video.md). vpdq: FILE holds vPDQ lines
      (`hashmatch hash --video` or ThreatExchange's tools). video: FILE is
      the video, hashed here (a frame every 0.5 s, plus each frame's
      centred 90%, 80% and 70% windows so that copies cropped by ~10% or
      with a corner logo match); only the hashes are sent. External id:
      ID or FILE's stem.
      --max_rows bounds the frames (16384).
  hashmatch export --format csv|jsonl|hashmatch (--server ADDR CLIENT_FLAGS |
                   --db DIR) [--out FILE] [--signal_types LIST]
                   [--states LIST] [--agency NAME] [--updated_since T]
      Writes the entries passing the filters (signal types pdq,phash,...;
      states pending,active,disputed,retracted; T in microseconds or RFC
      3339), in id order, from IngestService.ExportEntries or offline from
      a store opened read-only, to FILE (via FILE.tmp, renamed when
      complete) or stdout. hashmatch is the lossless format (every field,
      end line with count and SHA-256). No deadline unless --timeout_ms.
      CLIENT_FLAGS: --token T or --token_file F (default
      $HASHMATCH_TOKEN), --tls_ca F [--tls_cert F --tls_key F]
      [--tls_server_name N], --timeout_ms N.
  hashmatch audit keygen --out PREFIX
      Writes an Ed25519 key pair for signing the audit log's checkpoints:
      PREFIX.key (PKCS#8 PEM, mode 0600; ingest_server --audit_key) and
      PREFIX.pub (for auditors). Never overwrites a key.
  hashmatch audit verify (--log DIR | --server ADDR CLIENT_FLAGS)
                         --public_key FILE[,FILE...]
                         [--max_unsigned_tail N] [--expect_checkpoint I:HEX]
      Checks every record of the audit log (ingest_server's DATA/audit,
      read-only, or AuditService.ReadAuditLog as an auditor): index
      sequence, prev_hash chain, record hashes, checkpoint signatures.
      Prints records checked, checkpoints verified, the unsigned tail and
      the last checkpoint (INDEX:HEX, for --expect_checkpoint next time);
      on failure "INVALID at record I: REASON: ...". Exit 0 valid, 1
      tampered, invalid or unreadable.
  hashmatch admin principal add NAME --role ROLE[,ROLE] [--certificate]
                  [--no_token] [--may_submit_media] [--note T] CLIENT_FLAGS
  hashmatch admin principal list [--include_revoked] CLIENT_FLAGS
  hashmatch admin principal revoke NAME --reason TEXT CLIENT_FLAGS
      Manages an ingest_server's principals (needs the admin role).
      CLIENT_FLAGS as for match (--server, --token_file/--token/
      $HASHMATCH_TOKEN, TLS). add prints the new token once on stdout.
      list: NAME, roles, auth, created, revoked, note (tab-separated);
      --json for JSON. Exit 1 when the RPC fails.
  hashmatch entry get ID | --agency A --external_id X   CLIENT_FLAGS
  hashmatch entry list [--state S,..] [--type T,..] [--agency A]
                  [--updated_since_micros T] [--page_size N]
                  [--page_token T] [--all] CLIENT_FLAGS
  hashmatch entry retract ID --reason TEXT CLIENT_FLAGS
  hashmatch entry confirm ID [--note TEXT] CLIENT_FLAGS
  hashmatch entry dispute ID --reason TEXT [--content_ref R] [--suspend]
  hashmatch entry resolve ID --outcome upheld|rejected --resolution TEXT
      Reads and curates an ingest_server's vetted entries (roles: an
      agency retracts its own entries, confirms others', resolves
      disputes; a platform disputes). One tab-separated line per entry
      (id, type, hash, state, agency, external_id, classification,
      endorsed_by, disputes open/total, updated); get and the mutating
      commands add endorsement/dispute/retraction lines. --json for JSON.
      Exit 1 when the RPC fails.
  hashmatch reports list|export [--format jsonl|csv] [--out FILE]
                  [--entry_id N] [--platform P] [--since_micros T]
                  [--until_micros T] [--page_size N --page_token T (list)]
                  CLIENT_FLAGS
      Match reports from an ingest_server (auditor/admin: all; an agency:
      its own entries). export follows every page; list prints one and
      the next page token on stderr. csv: a header, one row per matched
      entry. Exit 1 when the RPC fails.
  hashmatch eval accuracy (--corpus DIR|RCC[,...] | --manifest FILE)
                  --out DIR [--hashers LIST] [--transforms LIST] [--limit N]
                  [--threads N] [--max_side N] [--seed N]
                  [--target_precision P] [--also_ungated LIST|none]
                  [--write_manifest FILE]
      Accuracy of the hashers on benign photos (docs/accuracy.md): each
      photo and 23 transforms of it; half the pictures (by a seeded hash
      of each file's MD5: its content, never its path) are vetted. Writes
      DIR/accuracy.json, accuracy.md,
      accuracy.html, roc.svg, hist_*.svg (and manifest.tsv with --corpus).
      --corpus scans directories and Qt .rcc archives (their jpg, png,
      webp members, opaque only, as ARCHIVE.rcc:/INNER; near duplicates
      within PDQ 31 are one picture); --write_manifest FILE (also
      --write-manifest) writes the manifest (md5, size, group, package,
      path) and, without --out, stops there; --manifest FILE checks every
      file's MD5 (a mismatch is an error). LIST: comma-separated or all
      (default): hashers pdq, pdq-cli512, pdq-fast, phash, dhash,
      pdq+dihedral, pdq+trim, pdq+trim+dihedral, pdq+regions, and with
      pHash as a second vote pdq&phash, pdq&phash-k8, pdq&phash-p4,
      pdq+trim&phash, pdq+dihedral&phash, pdq+trim+dihedral&phash,
      pdq+phash-mean; transforms
      identity, resize50, resize25, jpeg90, jpeg50, jpeg30, crop5, crop10,
      pad20_solid, pad20_blur, rotate4, rotate90, hflip, gamma,
      brightness_contrast, blur, noise, vignette, text_overlay, grayscale,
      aspect, screenshot, combo. --limit N: a fixed sample of N photos;
      --max_side 1024: photos are downscaled to it first; --seed 1;
      --target_precision 0.9999; threads default to the CPU count. PDQ
      queries of quality under 50 match nothing (the service's gate);
      --also_ungated (default pdq) also scores those methods without it.
      Image library messages on stderr (libpng, libjpeg, OpenCV, ...) are
      counted and printed once at the end, one line per message, with only
      their leading plain text (nothing an image supplied).
  hashmatch eval perf [--quick | --update_docs [--out FILE]] [--json FILE]
                  [--benchmarks hashing,index,rpc,video] [--bench_dir DIR]
                  [--match_server PATH] [--timeout_seconds N]
                  [--git_commit C] [--hashing_filter RE] [--hashing_min_time S]
                  [--index_n N] [--index_codes random|clustered|realistic]
                  [--index_queries N] [--rpc_store_n N] [--rpc_seconds S]
                  [--hashes_concurrency L] [--image_concurrency L]
                  [--images DIR] [--video_seconds S] [--video_clips LIST]
                  [--video_repeats N] [--video_dir DIR]
      Runs the benchmarks of bench/ as child processes and writes their
      numbers, each with its ratio to the baseline measured in the same run
      and the targets of docs/performance.md (met / not met): the PDQ
      hashing benchmark (PDQ vs the reference-style baseline, 13 inputs,
      plus decode+hash), the index benchmark (MIH vs our popcount scan vs
      FAISS IndexBinaryFlat, 1M realistic codes, r = 31), RPC load
      (match_load makes a 1M-entry store in a temporary directory, a
      match_server serves it on 127.0.0.1, MatchHashes at concurrency
      1,16,24 and MatchImage at 1,2,4 over the mate-backgrounds nature
      photos, 5 s per level) and video hashing (20 s camera and phone clips
      made with ffmpeg; CPU s per minute vs decoding every frame): about
      4-5 minutes on 2 cores. --quick: small sizes, about 10 s (for tests;
      targets not judged). The report (machine, build, commit, date, the
      command and each benchmark's exact command) is printed as Markdown
      and written as JSON to --json FILE (default perf.json in the build
      directory, next to tools/). Only --update_docs (refused with
      --quick) writes it into the repository: it replaces the block
      between <!-- BEGIN eval perf --> and <!-- END eval perf --> of
      --out FILE (default docs/performance.md of the current directory,
      which must exist; inserted before the first section when absent; a
      new --out file is created); the rest of the file is kept byte for
      byte; the file is replaced atomically.
      --bench_dir defaults to ../bench and --match_server to
      ../src/server/match_server next to this binary's directory; each
      program may run --timeout_seconds (600). A missing program is an
      error naming the cmake target to build; a program that fails, times
      out or writes unreadable output fails the run with its stderr.
  hashmatch help | --help
  hashmatch version

Exit codes: 0 success, 1 a file could not be hashed (or compare: no match;
db: the store could not be read or verify found a difference; match: a file
could not be answered; import: a bad row, nothing submitted, or a failed
Submit; export: a failed read or write; audit verify: the log is invalid or
unreadable; admin, entry: the RPC failed; eval: the corpus could not be read
or a benchmark failed), 2 usage error, 3 (match only) some file
is a MATCH.
)";

int UsageError(std::ostream& err, absl::string_view message) {
  err << "hashmatch: " << message << "\n";
  PrintUsage(err);
  return kExitUsage;
}

int DefaultThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min<unsigned>(n, kMaxThreads));
}

// Flags shared by `hash` and `pairs`.
void AddFileFlags(FlagParser& parser) {
  parser.AddBool("help");
  parser.AddValue("algo");
  parser.AddValue("threads");
  parser.AddValue("max_image_bytes");
  parser.AddValue("max_image_pixels");
}

absl::StatusOr<FileHashOptions> FileOptionsFromFlags(const ParsedFlags& flags) {
  FileHashOptions options;
  absl::StatusOr<std::vector<Algorithm>> algos =
      ParseAlgorithmList(flags.Get("algo").value_or("pdq"));
  if (!algos.ok()) return algos.status();
  options.algorithms = *std::move(algos);
  absl::StatusOr<int64_t> threads =
      flags.GetInt("threads", 1, kMaxThreads, DefaultThreads());
  if (!threads.ok()) return threads.status();
  options.threads = static_cast<int>(*threads);
  absl::StatusOr<int64_t> max_bytes =
      flags.GetInt("max_image_bytes", 1, kMaxLimit,
                   static_cast<int64_t>(kDefaultMaxEncodedBytes));
  if (!max_bytes.ok()) return max_bytes.status();
  options.hash.decode.max_encoded_bytes = static_cast<size_t>(*max_bytes);
  absl::StatusOr<int64_t> max_pixels =
      flags.GetInt("max_image_pixels", 1, kMaxLimit, kDefaultMaxPixels);
  if (!max_pixels.ok()) return max_pixels.status();
  options.hash.decode.max_pixels = *max_pixels;
  if (flags.positional().empty()) {
    return absl::InvalidArgumentError("no files given");
  }
  return options;
}

void ReportFileError(std::ostream& err, absl::string_view path,
                     const absl::Status& status) {
  err << "hashmatch: " << path << ": " << status.message() << "\n";
}

template <size_t kBits>
absl::StatusOr<int> HexDistance(absl::string_view a, absl::string_view b) {
  absl::StatusOr<BitHash<kBits>> ha = BitHash<kBits>::FromHex(a);
  if (!ha.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("first hash: ", ha.status().message()));
  }
  absl::StatusOr<BitHash<kBits>> hb = BitHash<kBits>::FromHex(b);
  if (!hb.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("second hash: ", hb.status().message()));
  }
  return HammingDistance(*ha, *hb);
}

// Distance between two hex hashes of 64, 128 or 256 bits; the bit count is
// stored in *bits.
absl::StatusOr<int> HexHashDistance(absl::string_view a, absl::string_view b,
                                    int* bits) {
  if (a.size() != b.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the hashes differ in length (", a.size(), " and ",
                     b.size(), " hex digits)"));
  }
  *bits = static_cast<int>(a.size() * 4);
  switch (a.size()) {
    case 64:
      return HexDistance<256>(a, b);
    case 32:
      return HexDistance<128>(a, b);
    case 16:
      return HexDistance<64>(a, b);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "a hash must have 64 (PDQ, SHA-256), 32 (MD5) or 16 (pHash, dHash) "
          "hex digits, got ",
          a.size()));
  }
}

int DefaultThreshold(int bits) {
  switch (bits) {
    case 256:
      return kPdqDefaultThreshold;
    case 64:
      return kDefault64BitThreshold;
    default:
      return 0;
  }
}

struct PairsEntry {
  size_t index;       // Into the positional file list.
  std::string bytes;  // The hash, decoded from hex.
  std::optional<int> quality;
};

int BytesDistance(absl::string_view a, absl::string_view b) {
  int d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d += std::popcount(static_cast<uint8_t>(a[i] ^ b[i]));
  }
  return d;
}

bool LowQuality(const PairsEntry& e) {
  return e.quality.has_value() && *e.quality < kPdqMinTrustedQuality;
}

}  // namespace

void PrintUsage(std::ostream& os) { os << kUsage; }

namespace {

// The exit code to return at once when parsing failed (usage error) or
// --help was asked for (usage on `out`); nullopt to go on with the command.
std::optional<int> UsageOrHelp(const absl::StatusOr<ParsedFlags>& flags,
                               std::ostream& out, std::ostream& err) {
  if (!flags.ok()) return UsageError(err, flags.status().message());
  if (flags->Has("help")) {
    PrintUsage(out);
    return kExitOk;
  }
  return std::nullopt;
}

}  // namespace

int RunHash(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  if (WantsVideo(args)) return RunHashVideo(args, out, err);
  FlagParser parser;
  AddFileFlags(parser);
  parser.AddBool("dihedral");
  parser.AddBool("json");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (std::optional<int> done = UsageOrHelp(flags, out, err)) return *done;
  absl::StatusOr<FileHashOptions> options = FileOptionsFromFlags(*flags);
  if (!options.ok()) return UsageError(err, options.status().message());
  options->hash.dihedral = flags->Has("dihedral");
  const bool json = flags->Has("json");

  const std::vector<std::string>& paths = flags->positional();
  int exit_code = kExitOk;
  HashFiles(paths, *options,
            [&](size_t i, const absl::StatusOr<ImageHashes>& result) {
              if (!result.ok()) {
                out.flush();
                ReportFileError(err, paths[i], result.status());
                exit_code = kExitFailure;
                return;
              }
              out << (json ? FormatJsonLine(paths[i], *result)
                           : FormatTextLines(paths[i], *result));
            });
  out.flush();
  return exit_code;
}

int RunCompare(const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err) {
  FlagParser parser;
  parser.AddBool("help");
  parser.AddValue("threshold");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (std::optional<int> done = UsageOrHelp(flags, out, err)) return *done;
  if (flags->positional().size() != 2) {
    return UsageError(err,
                      absl::StrCat("compare needs exactly two hashes, got ",
                                   flags->positional().size()));
  }
  int bits = 0;
  absl::StatusOr<int> distance =
      HexHashDistance(flags->positional()[0], flags->positional()[1], &bits);
  if (!distance.ok()) {
    err << "hashmatch: compare: " << distance.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<int64_t> threshold =
      flags->GetInt("threshold", 0, bits, DefaultThreshold(bits));
  if (!threshold.ok()) return UsageError(err, threshold.status().message());
  const bool match = *distance <= *threshold;
  out << "distance " << *distance << " of " << bits
      << " bits: " << (match ? "match" : "no match") << " (threshold "
      << *threshold << ")\n";
  return match ? kExitOk : kExitFailure;
}

int RunPairs(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  FlagParser parser;
  AddFileFlags(parser);
  parser.AddValue("threshold");
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (std::optional<int> done = UsageOrHelp(flags, out, err)) return *done;
  absl::StatusOr<FileHashOptions> options = FileOptionsFromFlags(*flags);
  if (!options.ok()) return UsageError(err, options.status().message());
  if (options->algorithms.size() != 1) {
    return UsageError(err, "pairs takes exactly one --algo");
  }
  const Algorithm algo = options->algorithms[0];
  if (algo == Algorithm::kMd5 || algo == Algorithm::kSha256) {
    return UsageError(err,
                      "pairs compares perceptual hashes: --algo must be one "
                      "of pdq, pdq-cli512, pdq-fast, phash, dhash");
  }
  const int bits = AlgorithmBits(algo);
  absl::StatusOr<int64_t> threshold =
      flags->GetInt("threshold", 0, bits, DefaultThreshold(bits));
  if (!threshold.ok()) return UsageError(err, threshold.status().message());

  const std::vector<std::string>& paths = flags->positional();
  std::vector<PairsEntry> entries;
  int exit_code = kExitOk;
  HashFiles(paths, *options,
            [&](size_t i, const absl::StatusOr<ImageHashes>& result) {
              if (!result.ok()) {
                ReportFileError(err, paths[i], result.status());
                exit_code = kExitFailure;
                return;
              }
              const HashResult& r = result->results[0];
              absl::StatusOr<std::string> bytes = HexToBytes(r.hex);
              if (!bytes.ok()) {  // Not expected: the hasher wrote the hex.
                ReportFileError(err, paths[i], bytes.status());
                exit_code = kExitFailure;
                return;
              }
              entries.push_back(PairsEntry{i, *std::move(bytes), r.quality});
            });

  int low_quality = 0;
  for (const PairsEntry& e : entries) {
    if (!LowQuality(e)) continue;
    ++low_quality;
    out << "LOW_QUALITY  quality " << *e.quality << "  " << paths[e.index]
        << "\n";
  }
  int matches = 0;
  for (size_t a = 0; a < entries.size(); ++a) {
    for (size_t b = a + 1; b < entries.size(); ++b) {
      const int d = BytesDistance(entries[a].bytes, entries[b].bytes);
      if (d > *threshold) continue;
      ++matches;
      out << "MATCH  distance " << d << "  " << paths[entries[a].index] << "  "
          << paths[entries[b].index];
      if (LowQuality(entries[a]) || LowQuality(entries[b])) {
        out << "  (low quality: " << entries[a].quality.value_or(-1) << "/"
            << entries[b].quality.value_or(-1) << ", below "
            << kPdqMinTrustedQuality << " is not trusted)";
      }
      out << "\n";
    }
  }
  out << entries.size() << " files hashed, " << matches << " matching pairs ("
      << AlgorithmName(algo) << ", threshold " << *threshold << "), "
      << low_quality << " with quality below " << kPdqMinTrustedQuality << ", "
      << paths.size() - entries.size() << " unreadable\n";
  out.flush();
  return exit_code;
}

}  // namespace cli
}  // namespace hashmatch
