#include "src/hashing/dct_hashes.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hashmatch {
namespace {

// weights[o] lists (input index, weight) pairs covering output cell o of a
// resize from `in` to `out` samples; the weights of a cell sum to 1.
std::vector<std::vector<std::pair<int, double>>> AreaWeights(int in, int out) {
  std::vector<std::vector<std::pair<int, double>>> w(out);
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double lo = o * scale, hi = (o + 1) * scale;
    for (int i = static_cast<int>(lo); i < in && i < hi; ++i) {
      const double cover =
          std::min<double>(i + 1, hi) - std::max<double>(i, lo);
      if (cover > 0) w[o].emplace_back(i, cover / scale);
    }
  }
  return w;
}

}  // namespace

void AreaResizeLuma(const ImageView& image, int out_w, int out_h, float* out) {
  const auto wx = AreaWeights(image.width, out_w);
  const auto wy = AreaWeights(image.height, out_h);
  std::vector<float> row_luma(image.width);
  std::vector<double> acc(static_cast<size_t>(out_w) * out_h, 0.0);
  // Each input row is reduced horizontally, then added to the output rows
  // it overlaps with its vertical weight.
  std::vector<std::vector<std::pair<int, double>>> rows_of(image.height);
  for (int oy = 0; oy < out_h; ++oy) {
    for (auto [iy, wgt] : wy[oy]) rows_of[iy].emplace_back(oy, wgt);
  }
  std::vector<double> reduced(out_w);
  for (int y = 0; y < image.height; ++y) {
    if (rows_of[y].empty()) continue;
    ImageView row = image;
    row.data = image.row(y);
    row.height = 1;
    ComputeLuma(row, row_luma.data());
    for (int ox = 0; ox < out_w; ++ox) {
      double s = 0;
      for (auto [ix, wgt] : wx[ox]) s += wgt * row_luma[ix];
      reduced[ox] = s;
    }
    for (auto [oy, wgt] : rows_of[y]) {
      for (int ox = 0; ox < out_w; ++ox) {
        acc[static_cast<size_t>(oy) * out_w + ox] += wgt * reduced[ox];
      }
    }
  }
  for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<float>(acc[i]);
}

Hash64 PHash(const ImageView& image) {
  constexpr int kN = 32;
  float small[kN * kN];
  AreaResizeLuma(image, kN, kN, small);
  // DCT-II basis c[u][x] = cos(pi * (2x + 1) * u / 2N); the normalisation is
  // irrelevant to a median threshold.
  static const std::vector<double> basis = [] {
    std::vector<double> c(9 * kN);
    for (int u = 0; u <= 8; ++u) {
      for (int x = 0; x < kN; ++x) {
        c[u * kN + x] = std::cos(M_PI * (2 * x + 1) * u / (2.0 * kN));
      }
    }
    return c;
  }();
  // rows[v][x] = sum_y c[v][y] * small[y][x] for v in 1..8.
  double rows[8][kN];
  for (int v = 1; v <= 8; ++v) {
    for (int x = 0; x < kN; ++x) {
      double s = 0;
      for (int y = 0; y < kN; ++y) s += basis[v * kN + y] * small[y * kN + x];
      rows[v - 1][x] = s;
    }
  }
  double coeff[64];
  for (int v = 0; v < 8; ++v) {
    for (int u = 1; u <= 8; ++u) {
      double s = 0;
      for (int x = 0; x < kN; ++x) s += basis[u * kN + x] * rows[v][x];
      coeff[v * 8 + (u - 1)] = s;
    }
  }
  double sorted[64];
  std::copy(coeff, coeff + 64, sorted);
  std::sort(sorted, sorted + 64);
  const double median = (sorted[31] + sorted[32]) / 2;
  Hash64 h;
  for (int i = 0; i < 64; ++i) {
    if (coeff[i] > median) h.SetBit(i);
  }
  return h;
}

Hash64 DHash(const ImageView& image) {
  float small[9 * 8];
  AreaResizeLuma(image, 9, 8, small);
  Hash64 h;
  for (int row = 0; row < 8; ++row) {
    for (int col = 0; col < 8; ++col) {
      if (small[row * 9 + col + 1] > small[row * 9 + col]) {
        h.SetBit(row * 8 + col);
      }
    }
  }
  return h;
}

}  // namespace hashmatch
