#include "src/hashing/pdq.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace hashmatch {
namespace {

constexpr int kMinHashableDim = 5;
constexpr int kRowsInterleaved = 16;

// The reference's 16x64 DCT matrix: a float scale times a double cosine,
// rounded to float. Also kept transposed for the second product.
struct DctMatrix {
  float d[16 * 64];
  float dt[64 * 16];
  DctMatrix() {
    constexpr double kPi = 3.14159265358979323846;
    const float scale = static_cast<float>(std::sqrt(2.0 / 64.0));
    for (int i = 0; i < 16; ++i) {
      for (int j = 0; j < 64; ++j) {
        const double angle = (kPi / 2.0 / 64.0) * static_cast<double>(i + 1) *
                             static_cast<double>(2 * j + 1);
        d[i * 64 + j] = static_cast<float>(scale * std::cos(angle));
        dt[j * 16 + i] = d[i * 64 + j];
      }
    }
  }
};

const DctMatrix& Dct() {
  static const DctMatrix* const m = new DctMatrix();
  return *m;
}

int JaroszWindow(int dim) { return (dim + 2 * 64 - 1) / (2 * 64); }

// The reference's one-dimensional box filter (a moving average whose window
// shrinks at both ends), run on `lanes` independent signals in lockstep.
// Sample p of lane l is in[index(p, l)]; the same arithmetic happens in the
// same order for every lane, so each lane's result is bit-identical to the
// reference's scalar loop while the lanes loop vectorises or overlaps.
template <typename Index>
inline void BoxLanes(const float* __restrict in, float* __restrict out, int n,
                     int lanes, int window, float* __restrict sums,
                     Index index) {
  const int half = (window + 2) / 2;
  const int phase1 = half - 1;
  const int phase2 = window - half + 1;
  const int phase3 = n - window;
  const int phase4 = half - 1;
  for (int l = 0; l < lanes; ++l) sums[l] = 0.0f;
  int li = 0, ri = 0, oi = 0, count = 0;
  for (int i = 0; i < phase1; ++i, ++ri) {
    ++count;
    for (int l = 0; l < lanes; ++l) sums[l] += in[index(ri, l)];
  }
  for (int i = 0; i < phase2; ++i, ++ri, ++oi) {
    const float c = static_cast<float>(++count);
    for (int l = 0; l < lanes; ++l) {
      sums[l] += in[index(ri, l)];
      out[index(oi, l)] = sums[l] / c;
    }
  }
  {
    const float c = static_cast<float>(count);
    for (int i = 0; i < phase3; ++i, ++li, ++ri, ++oi) {
      for (int l = 0; l < lanes; ++l) {
        float s = sums[l] + in[index(ri, l)];
        s -= in[index(li, l)];
        sums[l] = s;
        out[index(oi, l)] = s / c;
      }
    }
  }
  for (int i = 0; i < phase4; ++i, ++li, ++oi) {
    const float c = static_cast<float>(--count);
    for (int l = 0; l < lanes; ++l) {
      sums[l] -= in[index(li, l)];
      out[index(oi, l)] = sums[l] / c;
    }
  }
}

// True when kRowsInterleaved consecutive rows of `cols` floats start in
// few L1 sets (4 KiB per way: widths near a multiple of 1024 floats, such as
// 512, 2047, 2048 or 4097), so that filtering them in place evicts lines
// before they are used up.
bool RowsAliasInL1(int cols) {
  constexpr size_t kLine = 64, kSets = 64;
  int per_set[kSets] = {};
  int worst = 0;
  for (int l = 0; l < kRowsInterleaved; ++l) {
    const size_t set =
        (l * static_cast<size_t>(cols) * sizeof(float) / kLine) % kSets;
    worst = std::max(worst, ++per_set[set]);
  }
  return worst >= 4;
}

// Box filter along each row. Rows are independent; kRowsInterleaved of them
// run together so that their dependency chains overlap. Where the rows alias
// in L1 (RowsAliasInL1; this ran 3-4x slower), each group is first transposed
// into `block` (sample p of row l at p * kRowsInterleaved + l) so that the
// filter reads and writes contiguous lanes; elsewhere the rows are filtered
// in place, which saves the two transposes. `block` and `block_out` hold
// cols * kRowsInterleaved floats.
void BoxAlongRows(const float* in, float* out, int rows, int cols, int window,
                  float* block, float* block_out) {
  float sums[kRowsInterleaved];
  constexpr int kL = kRowsInterleaved;
  const size_t stride = static_cast<size_t>(cols);
  const bool transpose = RowsAliasInL1(cols);
  for (int r0 = 0; r0 < rows; r0 += kL) {
    const int lanes = std::min(kL, rows - r0);
    const float* in0 = in + r0 * stride;
    float* out0 = out + r0 * stride;
    if (!transpose) {
      BoxLanes(in0, out0, cols, lanes, window, sums,
               [stride](int p, int l) { return l * stride + p; });
      continue;
    }
    for (int p0 = 0; p0 < cols; p0 += kL) {
      const int pn = std::min(kL, cols - p0);
      for (int l = 0; l < lanes; ++l) {
        const float* src = in0 + l * stride + p0;
        for (int p = 0; p < pn; ++p) block[(p0 + p) * kL + l] = src[p];
      }
    }
    const auto index = [](int p, int l) { return p * kL + l; };
    if (lanes == kL) {  // A constant lane count lets the lanes vectorise.
      BoxLanes(block, block_out, cols, kL, window, sums, index);
    } else {
      BoxLanes(block, block_out, cols, lanes, window, sums, index);
    }
    for (int p0 = 0; p0 < cols; p0 += kL) {
      const int pn = std::min(kL, cols - p0);
      for (int l = 0; l < lanes; ++l) {
        float* dst = out0 + l * stride + p0;
        for (int p = 0; p < pn; ++p) dst[p] = block_out[(p0 + p) * kL + l];
      }
    }
  }
}

// Box filter down each column: the columns of a row are contiguous lanes.
void BoxAlongCols(const float* in, float* out, int rows, int cols, int window,
                  float* sums) {
  const size_t stride = static_cast<size_t>(cols);
  BoxLanes(in, out, rows, cols, window, sums,
           [stride](int p, int l) { return p * stride + l; });
}

int QualityFromGrid(const float* g) {
  int gradient_sum = 0;
  for (int i = 0; i < 63; ++i) {
    for (int j = 0; j < 64; ++j) {
      const float u = g[i * 64 + j], v = g[(i + 1) * 64 + j];
      const int d = static_cast<int>(((u - v) * 100) / 255);
      gradient_sum += std::abs(d);
    }
  }
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 63; ++j) {
      const float u = g[i * 64 + j], v = g[i * 64 + j + 1];
      const int d = static_cast<int>(((u - v) * 100) / 255);
      gradient_sum += std::abs(d);
    }
  }
  return std::min(100, gradient_sum / 90);
}

// B = D A D^T for the 64x64 grid A, keeping frequencies 1..16 on each axis.
// Each sum runs over k in ascending order from 0.0f, as in the reference.
void Dct64To16(const float* a, float* t, float* b) {
  const DctMatrix& m = Dct();
  for (int i = 0; i < 16; ++i) {
    float* ti = t + i * 64;
    for (int j = 0; j < 64; ++j) ti[j] = 0.0f;
    for (int k = 0; k < 64; ++k) {
      const float d = m.d[i * 64 + k];
      const float* ak = a + k * 64;
      for (int j = 0; j < 64; ++j) ti[j] += d * ak[j];
    }
  }
  for (int i = 0; i < 16; ++i) {
    float* bi = b + i * 16;
    for (int j = 0; j < 16; ++j) bi[j] = 0.0f;
    for (int k = 0; k < 64; ++k) {
      const float tik = t[i * 64 + k];
      const float* dk = m.dt + k * 16;
      for (int j = 0; j < 16; ++j) bi[j] += tik * dk[j];
    }
  }
}

// out = the coefficient block of `in` under dihedral transform `d`: some
// coefficients change sign (odd frequencies flip under a mirror), and the
// block is transposed for the diagonal symmetries.
void DihedralCoefficients(const float* in, Dihedral d, float* out) {
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const float v = in[i * 16 + j];
      switch (d) {
        case Dihedral::kOriginal:
          out[i * 16 + j] = v;
          break;
        case Dihedral::kRotate90:
          out[j * 16 + i] = (j & 1) ? v : -v;
          break;
        case Dihedral::kRotate180:
          out[i * 16 + j] = ((i + j) & 1) ? -v : v;
          break;
        case Dihedral::kRotate270:
          out[j * 16 + i] = (i & 1) ? v : -v;
          break;
        case Dihedral::kFlipX:
          out[i * 16 + j] = (i & 1) ? v : -v;
          break;
        case Dihedral::kFlipY:
          out[i * 16 + j] = (j & 1) ? v : -v;
          break;
        case Dihedral::kFlipPlus1:
          out[j * 16 + i] = v;
          break;
        case Dihedral::kFlipMinus1:
          out[j * 16 + i] = ((i + j) & 1) ? -v : v;
          break;
      }
    }
  }
}

}  // namespace

absl::string_view DihedralName(Dihedral d) {
  switch (d) {
    case Dihedral::kOriginal:
      return "original";
    case Dihedral::kRotate90:
      return "rotate90";
    case Dihedral::kRotate180:
      return "rotate180";
    case Dihedral::kRotate270:
      return "rotate270";
    case Dihedral::kFlipX:
      return "flipx";
    case Dihedral::kFlipY:
      return "flipy";
    case Dihedral::kFlipPlus1:
      return "flipplus1";
    case Dihedral::kFlipMinus1:
      return "flipminus1";
  }
  return "unknown";
}

Hash256 PdqBitsFromCoefficients(const float* block) {
  float sorted[256];
  std::copy(block, block + 256, sorted);
  std::nth_element(sorted, sorted + 127, sorted + 256);
  const float median = sorted[127];
  Hash256 h;
  for (int k = 0; k < 256; ++k) {
    if (block[k] > median) h.SetBit(k);
  }
  return h;
}

int PdqHasher::Transform(const ImageView& image, bool allow_64_shortcut) {
  const int w = image.width, h = image.height;
  if (allow_64_shortcut && w == 64 && h == 64) {
    ComputeLuma(image, grid_);
  } else {
    const size_t n = static_cast<size_t>(w) * h;
    const size_t sampled = static_cast<size_t>(h) * 64;
    if (buf1_.size() < std::max(n, sampled)) buf1_.resize(std::max(n, sampled));
    if (buf2_.size() < n) buf2_.resize(n);
    if (cols_.size() < sampled) cols_.resize(sampled);
    const size_t block = static_cast<size_t>(w) * kRowsInterleaved;
    if (row_block_.size() < 2 * block) row_block_.resize(2 * block);
    if (sums_.size() < static_cast<size_t>(std::max(w, 64))) {
      sums_.resize(std::max(w, 64));
    }
    float* a = buf1_.data();
    float* b = buf2_.data();
    float* sums = sums_.data();
    float* block_in = row_block_.data();
    float* block_out = row_block_.data() + block;
    ComputeLuma(image, a);
    const int window_along_rows = JaroszWindow(w);
    const int window_along_cols = JaroszWindow(h);

    // Pass 1: rows then columns, everywhere.
    BoxAlongRows(a, b, h, w, window_along_rows, block_in, block_out);
    BoxAlongCols(b, a, h, w, window_along_cols, sums);
    // Pass 2: rows everywhere; columns only where the decimation samples.
    BoxAlongRows(a, b, h, w, window_along_rows, block_in, block_out);
    int sample_col[64], sample_row[64];
    for (int i = 0; i < 64; ++i) {
      sample_row[i] = static_cast<int>(((i + 0.5) * h) / 64);
      sample_col[i] = static_cast<int>(((i + 0.5) * w) / 64);
    }
    // The 64 sampled columns, gathered into `a` as contiguous lanes (a no
    // longer holds anything needed) and filtered into `cols` (h x 64).
    float* cols = cols_.data();
    const size_t stride = static_cast<size_t>(w);
    for (int r = 0; r < h; ++r) {
      for (int l = 0; l < 64; ++l)
        a[r * 64 + l] = b[r * stride + sample_col[l]];
    }
    BoxLanes(a, cols, h, 64, window_along_cols, sums,
             [](int p, int l) { return p * 64 + l; });
    for (int i = 0; i < 64; ++i) {
      std::copy(cols + sample_row[i] * 64, cols + sample_row[i] * 64 + 64,
                grid_ + i * 64);
    }
  }
  const int quality = QualityFromGrid(grid_);
  Dct64To16(grid_, dct_tmp_, dct_out_);
  return quality;
}

PdqHash PdqHasher::Hash(const ImageView& image) {
  PdqHash result;
  if (image.width < kMinHashableDim || image.height < kMinHashableDim) {
    return result;
  }
  result.quality = Transform(image, /*allow_64_shortcut=*/true);
  result.hash = PdqBitsFromCoefficients(dct_out_);
  return result;
}

PdqDihedralHashes PdqHasher::HashDihedral(const ImageView& image) {
  PdqDihedralHashes result;
  if (image.width < kMinHashableDim || image.height < kMinHashableDim) {
    return result;
  }
  result.quality = Transform(image, /*allow_64_shortcut=*/false);
  float block[256];
  for (int d = 0; d < kNumDihedral; ++d) {
    DihedralCoefficients(dct_out_, static_cast<Dihedral>(d), block);
    result.hashes[d] = PdqBitsFromCoefficients(block);
  }
  return result;
}

}  // namespace hashmatch
