#include "src/eval/manifest.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/image_header.h"

namespace hashmatch {
namespace eval {
namespace {

struct PackageRoot {
  const char* prefix;
  const char* package;
};

// Longest prefixes first where one contains another.
constexpr PackageRoot kPackageRoots[] = {
    {"/usr/share/wallpapers", "plasma-workspace-wallpapers"},
    {"/usr/share/backgrounds/gnome", "gnome-backgrounds"},
    {"/usr/share/backgrounds/mate", "mate-backgrounds"},
    {"/usr/share/stellarium", "stellarium-data"},
    {"/usr/share/doc/opencv-doc", "opencv-doc"},
    {"/usr/share/scratch", "scratch"},
    {"/usr/share/tuxpaint/stamps", "tuxpaint-stamps-default"},
    {"/usr/share/tuxpaint", "tuxpaint-data"},
    {"/usr/lib/python3/dist-packages/skimage", "python3-skimage"},
    {"/usr/lib/python3/dist-packages/imageio", "python3-imageio"},
};

// Files that show one scene or design under different names (consecutive
// video frames, colour variants, one image in several formats), found by
// hashing the corpus of docs/accuracy.md: path prefix -> group.
constexpr PackageRoot kSameScene[] = {
    {"/usr/lib/python3/dist-packages/skimage/data/chessboard_",
     "skimage/chessboard"},
    {"/usr/share/doc/opencv-doc/examples/data/basketball",
     "opencv-doc/basketball"},
    {"/usr/share/doc/opencv-doc/examples/data/rubberwhale",
     "opencv-doc/rubberwhale"},
    {"/usr/share/backgrounds/mate/desktop/Ubuntu-Mate-",
     "mate/Ubuntu-Mate-no-logo"},
};

bool HasPathPrefix(absl::string_view path, absl::string_view prefix) {
  return path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

bool IsImageName(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" ||
         ext == ".bmp" || ext == ".tif" || ext == ".tiff";
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string PackageForPath(absl::string_view path) {
  for (const PackageRoot& root : kPackageRoots) {
    if (HasPathPrefix(path, root.prefix)) return root.package;
  }
  return "-";
}

std::string GroupForPath(absl::string_view path) {
  for (const PackageRoot& scene : kSameScene) {
    if (path.substr(0, std::strlen(scene.prefix)) == scene.prefix) {
      return scene.package;
    }
  }
  constexpr absl::string_view kPlasma = "/usr/share/wallpapers/";
  if (path.substr(0, kPlasma.size()) == kPlasma) {
    absl::string_view rest = path.substr(kPlasma.size());
    return absl::StrCat("wallpapers/", rest.substr(0, rest.find('/')));
  }
  {
    // NAME_<W>x<H>.EXT -> NAME.EXT
    const size_t dot = path.rfind('.');
    const size_t slash = path.rfind('/');
    const size_t us = path.rfind('_', dot);
    if (dot != absl::string_view::npos && us != absl::string_view::npos &&
        (slash == absl::string_view::npos || us > slash)) {
      absl::string_view res = path.substr(us + 1, dot - us - 1);
      const size_t x = res.find('x');
      int64_t w = 0, h = 0;
      if (x != absl::string_view::npos &&
          absl::SimpleAtoi(res.substr(0, x), &w) &&
          absl::SimpleAtoi(res.substr(x + 1), &h) && w > 0 && h > 0) {
        return absl::StrCat(path.substr(0, us), path.substr(dot));
      }
    }
  }
  if (HasPathPrefix(path, "/usr/share/backgrounds/gnome")) {
    const size_t dot = path.rfind('.');
    absl::string_view stem = path.substr(0, dot);
    if (stem.size() > 2 && (stem.substr(stem.size() - 2) == "-l" ||
                            stem.substr(stem.size() - 2) == "-d")) {
      return std::string(stem.substr(0, stem.size() - 2));
    }
  }
  return std::string(path);
}

absl::StatusOr<std::vector<ManifestEntry>> BuildManifest(
    const std::vector<std::string>& dirs, const ManifestOptions& options) {
  std::vector<std::string> files;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      const std::string package = PackageForPath(dir);
      return absl::NotFoundError(absl::StrCat(
          "corpus directory ", dir, " does not exist",
          package == "-"
              ? ""
              : absl::StrCat(": install the Debian package ", package,
                             " (apt-get install ", package, ")")));
    }
    for (auto it = std::filesystem::recursive_directory_iterator(
             dir, std::filesystem::directory_options::skip_permission_denied,
             ec);
         !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec) && IsImageName(it->path())) {
        files.push_back(it->path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());

  std::vector<ManifestEntry> entries;
  std::set<std::string> seen_md5;
  // Group -> (pixels, index into entries) of its largest file.
  std::map<std::string, std::pair<int64_t, size_t>> group_best;
  for (const std::string& path : files) {
    absl::StatusOr<std::string> bytes =
        ReadFileToString(path, static_cast<size_t>(options.max_file_bytes));
    if (!bytes.ok()) continue;  // Unreadable or over the limit: skipped.
    absl::StatusOr<ImageHeader> header = ParseImageHeader(*bytes);
    if (!header.ok()) continue;
    if (std::min(header->width, header->height) < options.min_side) continue;
    ManifestEntry e;
    e.md5 = Md5Hex(*bytes);
    if (!seen_md5.insert(e.md5).second) continue;
    e.size = static_cast<int64_t>(bytes->size());
    e.group = GroupForPath(path);
    e.package = PackageForPath(path);
    e.path = path;
    const int64_t pixels = header->width * header->height;
    auto it = group_best.find(e.group);
    if (it != group_best.end()) {
      if (pixels > it->second.first) {
        entries[it->second.second] = std::move(e);
        it->second.first = pixels;
      }
      continue;
    }
    group_best[e.group] = {pixels, entries.size()};
    entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        "no image of at least the minimum side was found in the corpus "
        "directories");
  }
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) {
              return a.path < b.path;
            });
  return entries;
}

std::string FormatManifest(const std::vector<ManifestEntry>& entries) {
  std::string out = absl::StrCat(kManifestHeader, "\n");
  for (const ManifestEntry& e : entries) {
    absl::StrAppend(&out, e.md5, "\t", e.size, "\t", e.group, "\t", e.package,
                    "\t", e.path, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(
    absl::string_view text, const ManifestOptions& options) {
  std::vector<ManifestEntry> entries;
  std::set<std::string> paths;
  int line_no = 0;
  bool header_seen = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest line ", line_no, ": ", what));
    };
    if (!header_seen) {
      if (line != kManifestHeader) {
        return error(
            absl::StrCat("expected the header '", kManifestHeader, "'"));
      }
      header_seen = true;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, '\t');
    if (cols.size() != 5) {
      return error(
          absl::StrCat("expected 5 tab-separated columns (md5, size, "
                       "group, package, path), got ",
                       cols.size()));
    }
    ManifestEntry e;
    if (cols[0].size() != 32 || !IsHex(cols[0])) {
      return error("md5 must be 32 lower-case hex digits");
    }
    e.md5 = std::string(cols[0]);
    if (!absl::SimpleAtoi(cols[1], &e.size) || e.size < 0) {
      return error(absl::StrCat("bad size '", cols[1], "'"));
    }
    if (e.size > options.max_file_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("manifest line ", line_no, ": size ", e.size,
                       " is over the limit of ", options.max_file_bytes));
    }
    if (cols[2].empty()) return error("empty group");
    if (cols[3].empty()) return error("empty package (use '-')");
    if (cols[4].empty() || cols[4][0] != '/') {
      return error("path must be absolute");
    }
    e.group = std::string(cols[2]);
    e.package = std::string(cols[3]);
    e.path = std::string(cols[4]);
    if (!paths.insert(e.path).second) {
      return error(absl::StrCat("duplicate path ", e.path));
    }
    if (static_cast<int64_t>(entries.size()) >= options.max_entries) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "manifest has more than ", options.max_entries, " entries"));
    }
    entries.push_back(std::move(e));
  }
  if (!header_seen) return absl::InvalidArgumentError("manifest is empty");
  return entries;
}

absl::Status WriteManifestFile(const std::vector<ManifestEntry>& entries,
                               const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  out << FormatManifest(entries);
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ManifestEntry>> ReadManifestFile(
    const std::string& path, const ManifestOptions& options) {
  ASSIGN_OR_RETURN(
      std::string text,
      ReadFileToString(path, static_cast<size_t>(options.max_manifest_bytes)));
  return ParseManifest(text, options);
}

absl::StatusOr<std::string> ReadVerified(const ManifestEntry& entry) {
  std::error_code ec;
  if (!std::filesystem::exists(entry.path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        entry.path, " is missing",
        entry.package == "-"
            ? ""
            : absl::StrCat(" (install the Debian package ", entry.package,
                           ": apt-get install ", entry.package, ")")));
  }
  absl::StatusOr<std::string> bytes =
      ReadFileToString(entry.path, static_cast<size_t>(entry.size));
  if (!bytes.ok()) {
    if (absl::IsResourceExhausted(bytes.status())) {
      return absl::DataLossError(
          absl::StrCat(entry.path, ": size mismatch: manifest ", entry.size,
                       " bytes, the file is larger"));
    }
    return bytes.status();
  }
  if (static_cast<int64_t>(bytes->size()) != entry.size) {
    return absl::DataLossError(
        absl::StrCat(entry.path, ": size mismatch: manifest ", entry.size,
                     " bytes, file ", bytes->size()));
  }
  const std::string md5 = Md5Hex(*bytes);
  if (md5 != entry.md5) {
    return absl::DataLossError(absl::StrCat(
        entry.path, ": md5 mismatch: manifest ", entry.md5, ", file ", md5));
  }
  return bytes;
}

}  // namespace eval
}  // namespace hashmatch
