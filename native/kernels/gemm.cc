// SGEMM driver. Loop nest (outer to inner), after BLIS with the roles of A and B swapped
// because our tiles are row-major with vectors along n:
//   ic (mc rows of A) -> pc (kc of k): the mc x kc block of A, read in place when it can
//                        be, else copied (rows to a padded stride, or k-major panels when
//                        A is transposed); it lives in L3
//   jc (nc cols of B) -> pack a kc x nc block of B into nr-wide panels (lives in L2)
//   ir (mr rows)      -> one mr x kc sliver of A (lives in L1)
//   jr (nr cols)      -> micro-kernel: mr x nr tile of C in registers
// A is never transposed on the way: the micro-kernel takes A's row and k strides.
#include "gemm.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"
#include "workspace.h"

namespace convkit {
namespace {

constexpr int kMaxTileFloats = 1024;  // the largest mr * nr of any micro-kernel
// Below this many multiply-adds the pool's wake-up costs more than a second thread saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 18;

constexpr SgemmKernel kSgemmKernels[] = {
#define CONVKIT_SGEMM_KERNEL(name, isa, mr, nr, function, segments) {#name, isa, mr, nr, function, segments},
#include "list.inc"
#undef CONVKIT_SGEMM_KERNEL
};
constexpr int kSgemmKernelCount = static_cast<int>(sizeof kSgemmKernels / sizeof kSgemmKernels[0]);

constexpr bool every_tile_fits() {
  for (const SgemmKernel& kernel : kSgemmKernels) {
    if (kernel.mr * kernel.nr > kMaxTileFloats) return false;
  }
  return true;
}
static_assert(every_tile_fits(), "a micro-kernel's tile exceeds the edge scratch tile");

inline int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// The k block for a sum of length k: at most config.kc, split evenly (k = 512 with kc = 384
// makes two blocks of 256, not 384 + 128, whose short block would pay the C-tile and
// packing overheads for little work).
inline int k_block(const SgemmConfig& config, int k) {
  const int blocks = (k + config.kc - 1) / config.kc;
  return (k + blocks - 1) / blocks;
}

// Copies one micro-panel of MR rows of a transposed A: panel[p*MR + i] = src[p*lda + i],
// MR contiguous floats per p, a fixed-size copy the compiler inlines.
template <int MR>
void pack_a_panel(const float* __restrict src, int64_t lda, int depth, float* __restrict panel) {
  for (int p = 0; p < depth; ++p, src += lda, panel += MR) std::memcpy(panel, src, sizeof(float) * MR);
}

using PackAPanel = void (*)(const float*, int64_t, int, float*);

PackAPanel pack_a_panel_for(int mr) {
  switch (mr) {
    case 4:
      return pack_a_panel<4>;
    case 6:
      return pack_a_panel<6>;
    case 8:
      return pack_a_panel<8>;
    case 14:
      return pack_a_panel<14>;
    default:
      return nullptr;
  }
}

// Rows [row0, row0 + rows) and columns [col0, col0 + depth) of op(a) = a^T (a stored
// [k, m]), as k-major micro-panels of mr rows: panel q holds panel[p*mr + i] =
// a[(col0 + p)*lda + row0 + q*mr + i], zero past `rows`. No transposing: each p copies
// mr contiguous floats.
void pack_a_panels(const float* a, int64_t lda, int row0, int rows, int col0, int depth, int mr,
                   float* __restrict packed) {
  const PackAPanel full_panel = pack_a_panel_for(mr);
  for (int r = 0; r < rows; r += mr) {
    const int panel_rows = std::min(mr, rows - r);
    float* __restrict panel = packed + static_cast<int64_t>(r) * depth;
    const float* src = a + static_cast<int64_t>(col0) * lda + row0 + r;
    if (panel_rows == mr && full_panel != nullptr) {
      full_panel(src, lda, depth, panel);
      continue;
    }
    for (int p = 0; p < depth; ++p, src += lda) {
      float* __restrict dst = panel + static_cast<int64_t>(p) * mr;
      for (int i = 0; i < panel_rows; ++i) dst[i] = src[i];
      for (int i = panel_rows; i < mr; ++i) dst[i] = 0.0f;
    }
  }
}

// Copies `rows` rows of `depth` floats (row stride lda) into rows of stride ld, then zero
// rows up to `padded_rows`, so the micro-kernel can read whole mr-row slivers.
void copy_a_rows(const float* __restrict src, int64_t lda, int rows, int depth, int padded_rows, int64_t ld,
                 float* __restrict dst) {
  for (int i = 0; i < rows; ++i) std::memcpy(dst + i * ld, src + i * lda, sizeof(float) * depth);
  for (int i = rows; i < padded_rows; ++i) std::memset(dst + i * ld, 0, sizeof(float) * depth);
}

// Rows of A a multiple of 4 KiB apart all fall in the same L1 sets, and mr of them (more
// than L1's 8 or 12 ways) would evict each other: such an A is copied to a padded stride
// instead of read in place. (2 KiB apart splits them over two sets, which measured fine.)
inline bool rows_alias_in_l1(int64_t row_stride) { return row_stride % 1024 == 0; }

// A row stride of at least `depth` floats that is a whole number of cache lines and does
// not alias in L1.
inline int64_t padded_row_stride(int depth) {
  int64_t stride = round_up(depth, 16);
  if (rows_alias_in_l1(stride)) stride += 16;
  return stride;
}

// Full micro-panels of NR columns of b (not transposed), `panels` of them side by side:
// row by row, so b is read contiguously (one stream the prefetcher follows, instead of
// a page per row), with a fixed-size copy per panel that the compiler inlines.
template <int NR>
void pack_b_rows(const float* __restrict src, int64_t ldb, int depth, int panels, float* __restrict packed) {
  const int64_t panel_len = static_cast<int64_t>(depth) * NR;
  for (int p = 0; p < depth; ++p, src += ldb) {
    float* __restrict dst = packed + static_cast<int64_t>(p) * NR;
    for (int q = 0; q < panels; ++q) std::memcpy(dst + q * panel_len, src + q * NR, sizeof(float) * NR);
  }
}

using PackBRows = void (*)(const float*, int64_t, int, int, float*);

PackBRows pack_b_rows_for(int nr) {
  switch (nr) {
    case 4:
      return pack_b_rows<4>;
    case 8:
      return pack_b_rows<8>;
    case 16:
      return pack_b_rows<16>;
    case 32:
      return pack_b_rows<32>;
    default:
      return nullptr;
  }
}

// Rows [row0, row0 + depth) and columns [col0, col0 + cols) of op(b), as micro-panels of
// nr columns: panel q holds panel[p*nr + j] = op(b)[row0 + p, col0 + q*nr + j], zero past `cols`.
void pack_b(const float* b, int64_t ldb, bool trans_b, int row0, int depth, int col0, int cols, int nr,
            float* __restrict packed) {
  int first = 0;  // first column not yet packed
  const PackBRows full_rows = trans_b ? nullptr : pack_b_rows_for(nr);
  if (full_rows != nullptr && cols >= nr) {
    const int panels = cols / nr;
    full_rows(b + static_cast<int64_t>(row0) * ldb + col0, ldb, depth, panels, packed);
    first = panels * nr;
  }
  for (int c = first; c < cols; c += nr) {
    const int panel_cols = std::min(nr, cols - c);
    float* __restrict panel = packed + static_cast<int64_t>(c) * depth;
    if (!trans_b) {
      // op(b)[p, j] = b[p*ldb + j]: each p copies panel_cols contiguous floats.
      const float* src = b + static_cast<int64_t>(row0) * ldb + col0 + c;
      for (int p = 0; p < depth; ++p, src += ldb) {
        float* __restrict dst = panel + static_cast<int64_t>(p) * nr;
        for (int j = 0; j < panel_cols; ++j) dst[j] = src[j];
        for (int j = panel_cols; j < nr; ++j) dst[j] = 0.0f;
      }
    } else {
      // op(b)[p, j] = b[j*ldb + p]: read each row of b contiguously, write with stride nr.
      for (int j = 0; j < panel_cols; ++j) {
        const float* __restrict src = b + static_cast<int64_t>(col0 + c + j) * ldb + row0;
        for (int p = 0; p < depth; ++p) panel[static_cast<int64_t>(p) * nr + j] = src[p];
      }
      for (int j = panel_cols; j < nr; ++j) {
        for (int p = 0; p < depth; ++p) panel[static_cast<int64_t>(p) * nr + j] = 0.0f;
      }
    }
  }
}

// c = or += the valid rows x cols corner of an mr x nr scratch tile (row stride nr).
void merge_tile(const float* tile, int nr, int rows, int cols, float* c, int64_t ldc, bool accumulate) {
  for (int i = 0; i < rows; ++i) {
    const float* src = tile + i * nr;
    float* dst = c + i * ldc;
    if (accumulate) {
      for (int j = 0; j < cols; ++j) dst[j] += src[j];
    } else {
      for (int j = 0; j < cols; ++j) dst[j] = src[j];
    }
  }
}

struct GemmArgs {
  int m, n, k;
  const float* a;
  int64_t lda;
  bool trans_a;
  const float* b;  // read only through packed_b when that is set
  int64_t ldb;
  bool trans_b;
  const float* packed_b;  // from sgemm_pack_b for all n columns, or nullptr
  float* c;
  int64_t ldc;
  bool accumulate;
};

// Straight loops, used only when the packing workspace cannot be allocated.
void sgemm_unpacked(const GemmArgs& g) {
  for (int i = 0; i < g.m; ++i) {
    for (int j = 0; j < g.n; ++j) {
      float sum = 0.0f;
      for (int p = 0; p < g.k; ++p) {
        const float a_value = g.trans_a ? g.a[p * g.lda + i] : g.a[i * g.lda + p];
        const float b_value = g.trans_b ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j];
        sum += a_value * b_value;
      }
      float& out = g.c[i * g.ldc + j];
      out = g.accumulate ? out + sum : sum;
    }
  }
}

// How A reaches the micro-kernel: its rows in place, its rows copied to a padded stride
// (when in place they would alias in L1), or k-major panels (when A is transposed).
enum class ALayout { kRowsInPlace, kRowsCopied, kPanels };

void sgemm_blocked(const SgemmConfig& config, const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    if (!g.accumulate) {
      for (int i = 0; i < g.m; ++i) std::memset(g.c + i * g.ldc, 0, sizeof(float) * g.n);
    }
    return;
  }
  const SgemmKernel& kernel = config.kernel;
  const int mr = kernel.mr, nr = kernel.nr;
  const int kc = k_block(config, g.k);
  const int mc = std::min(config.mc, round_up(g.m, mr));
  const int nc = std::min(config.nc, round_up(g.n, nr));
  const ALayout layout = g.trans_a ? ALayout::kPanels
                         : rows_alias_in_l1(g.lda) ? ALayout::kRowsCopied
                                                   : ALayout::kRowsInPlace;
  const int64_t copied_stride = padded_row_stride(kc);
  // In place, only the last, partial sliver of rows is copied (zero-padded to mr rows).
  const size_t a_floats = layout == ALayout::kPanels       ? static_cast<size_t>(mc) * kc
                          : layout == ALayout::kRowsCopied ? static_cast<size_t>(mc) * copied_stride
                                                           : static_cast<size_t>(mr) * copied_stride;
  float* packed_a = thread_workspace(WorkspaceSlot::kGemmPackedA, a_floats);
  float* packed_b = g.packed_b != nullptr
                        ? nullptr
                        : thread_workspace(WorkspaceSlot::kGemmPackedB, static_cast<size_t>(nc) * kc);
  if (packed_a == nullptr || (g.packed_b == nullptr && packed_b == nullptr)) {
    sgemm_unpacked(g);
    return;
  }
  const int64_t packed_b_row_len = round_up(g.n, nr);  // floats per k of a prepacked B
  alignas(64) float tile[kMaxTileFloats];

  for (int ic = 0; ic < g.m; ic += mc) {
    const int mb = std::min(mc, g.m - ic);
    const int full_rows = mb / mr * mr;  // rows in whole mr slivers
    for (int pc = 0; pc < g.k; pc += kc) {
      const int kb = std::min(kc, g.k - pc);
      const bool accumulate = g.accumulate || pc > 0;  // later k blocks add to the first

      // The A block: sliver ir starts at a_block + ir * a_row_stride (kRows*) or
      // a_block + ir * kb (kPanels); the partial last sliver of kRowsInPlace is `edge`.
      const float* a_block = nullptr;
      int64_t a_row_stride = 1, a_k_stride = 1;
      if (layout == ALayout::kPanels) {
        pack_a_panels(g.a, g.lda, ic, mb, pc, kb, mr, packed_a);
        a_block = packed_a;
        a_k_stride = mr;
      } else if (layout == ALayout::kRowsCopied) {
        copy_a_rows(g.a + ic * g.lda + pc, g.lda, mb, kb, round_up(mb, mr), copied_stride, packed_a);
        a_block = packed_a;
        a_row_stride = copied_stride;
      } else {
        a_block = g.a + ic * g.lda + pc;
        a_row_stride = g.lda;
        if (full_rows < mb) {
          copy_a_rows(a_block + full_rows * g.lda, g.lda, mb - full_rows, kb, mr, copied_stride, packed_a);
        }
      }

      for (int jc = 0; jc < g.n; jc += nc) {
        const int nb = std::min(nc, g.n - jc);
        const float* b_block;
        if (g.packed_b != nullptr) {
          b_block = g.packed_b + pc * packed_b_row_len + static_cast<int64_t>(jc) * kb;
        } else {
          pack_b(g.b, g.ldb, g.trans_b, pc, kb, jc, nb, nr, packed_b);
          b_block = packed_b;
        }
        for (int ir = 0; ir < mb; ir += mr) {
          const int rows = std::min(mr, mb - ir);
          const float* a_sliver;
          int64_t sliver_row_stride = a_row_stride;
          if (layout == ALayout::kPanels) {
            a_sliver = a_block + static_cast<int64_t>(ir) * kb;
          } else if (layout == ALayout::kRowsInPlace && ir >= full_rows) {
            a_sliver = packed_a;
            sliver_row_stride = copied_stride;
          } else {
            a_sliver = a_block + ir * a_row_stride;
          }
          float* c_row = g.c + (ic + ir) * g.ldc + jc;
          for (int jr = 0; jr < nb; jr += nr) {
            const int cols = std::min(nr, nb - jr);
            const float* b_panel = b_block + static_cast<int64_t>(jr) * kb;
            if (rows == mr && cols == nr) {
              kernel.function(kb, a_sliver, sliver_row_stride, a_k_stride, b_panel, c_row + jr, g.ldc, accumulate);
            } else {
              kernel.function(kb, a_sliver, sliver_row_stride, a_k_stride, b_panel, tile, nr, false);
              merge_tile(tile, nr, rows, cols, c_row + jr, g.ldc, accumulate);
            }
          }
        }
      }
    }
  }
}

// One thread's share of a split GEMM: tiles [begin, end) along the split dimension.
struct SplitGemm {
  const SgemmConfig* config;
  GemmArgs args;
  bool split_n;
  int tile;  // nr when splitting n, mr when splitting m
};

void run_split_gemm(void* context, int64_t begin, int64_t end) {
  const SplitGemm& split = *static_cast<const SplitGemm*>(context);
  GemmArgs part = split.args;
  const int first = static_cast<int>(begin) * split.tile;
  if (split.split_n) {
    part.n = std::min(static_cast<int>(end) * split.tile, split.args.n) - first;
    part.b += split.args.trans_b ? first * split.args.ldb : first;
    part.c += first;
  } else {
    part.m = std::min(static_cast<int>(end) * split.tile, split.args.m) - first;
    part.a += split.args.trans_a ? first : first * split.args.lda;
    part.c += first * split.args.ldc;
  }
  sgemm_blocked(*split.config, part);
}

void sgemm_dispatch(const SgemmConfig& config, bool parallel, const GemmArgs& args) {
  const int64_t work = static_cast<int64_t>(args.m) * args.n * args.k;
  if (!parallel || work < kMinParallelWork || thread_count() == 1) {
    sgemm_blocked(config, args);
    return;
  }
  // Split the dimension with more tiles: better balance, and each thread packs only its
  // part of that operand. Tiles never straddle threads, so each element's sum is the same.
  const int m_tiles = (args.m + config.kernel.mr - 1) / config.kernel.mr;
  const int n_tiles = (args.n + config.kernel.nr - 1) / config.kernel.nr;
  SplitGemm split{&config, args, n_tiles >= m_tiles, n_tiles >= m_tiles ? config.kernel.nr : config.kernel.mr};
  parallel_for(split.split_n ? n_tiles : m_tiles, run_split_gemm, &split);
}

GemmArgs make_args(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb, bool trans_b,
                   float* c, int ldc, bool accumulate) {
  return GemmArgs{m, n, k, a, lda, trans_a, b, ldb, trans_b, nullptr, c, ldc, accumulate};
}

SgemmConfig choose_active_config() {
  const Isa isa = active_isa();
  for (const SgemmKernel& kernel : kSgemmKernels) {
    if (kernel.isa == isa) return sgemm_config_for(kernel);
  }
  return sgemm_config_for(kSgemmKernels[0]);  // the portable scalar kernel
}

}  // namespace

int sgemm_kernel_count() { return kSgemmKernelCount; }

const SgemmKernel& sgemm_kernel(int index) { return kSgemmKernels[index]; }

SgemmConfig sgemm_config_for(const SgemmKernel& kernel) {
  // kc: an mr x kc sliver of A in L1 (32-48 KiB); nc: a kc x nc block of B in about half
  // of L2 (1-1.25 MiB on Cascade/Ice Lake servers); mc: an mc x kc block of A in L3, large
  // so that B is packed once for most m. Tuned on a 2-core Ice Lake server (gemm_bench).
  int mc = 1024, kc = 256, nc = 256;
  switch (kernel.isa) {
    case Isa::kAvx512:
      kc = 384, nc = 384, mc = 4088;
      break;
    case Isa::kAvx2:
      kc = 384, nc = 384, mc = 4092;
      break;
    case Isa::kNeon:
      kc = 256, nc = 512, mc = 1024;
      break;
    case Isa::kScalar:
    default:
      kc = 256, nc = 256, mc = 512;
      break;
  }
  mc = std::max(kernel.mr, mc / kernel.mr * kernel.mr);
  nc = std::max(kernel.nr, nc / kernel.nr * kernel.nr);
  return SgemmConfig{kernel, mc, kc, nc};
}

const SgemmConfig& active_sgemm_config() {
  static const SgemmConfig config = choose_active_config();
  return config;
}

void sgemm(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb, bool trans_b,
           float* c, int ldc, bool accumulate) {
  sgemm_dispatch(active_sgemm_config(), true,
                 make_args(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate));
}

void sgemm_single_thread(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb,
                         bool trans_b, float* c, int ldc, bool accumulate) {
  sgemm_blocked(active_sgemm_config(), make_args(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate));
}

size_t sgemm_packed_b_size(const SgemmConfig& config, int n, int k) {
  return static_cast<size_t>(round_up(n, config.kernel.nr)) * k;
}

void sgemm_pack_b(const SgemmConfig& config, int n, int k, const float* b, int ldb, bool trans_b, float* packed_b) {
  // Block pc (kb rows of op(b)) starts at pc * round_up(n, nr); its panels at q * nr * kb.
  const int64_t row_len = round_up(n, config.kernel.nr);
  const int kc = k_block(config, k);
  for (int pc = 0; pc < k; pc += kc) {
    const int kb = std::min(kc, k - pc);
    pack_b(b, ldb, trans_b, pc, kb, 0, n, config.kernel.nr, packed_b + pc * row_len);
  }
}

void sgemm_single_thread_packed_b(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb,
                                  bool trans_b, const float* packed_b, float* c, int ldc, bool accumulate) {
  GemmArgs args = make_args(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate);
  args.packed_b = packed_b;
  sgemm_blocked(active_sgemm_config(), args);
}

void sgemm_with_config(const SgemmConfig& config, bool parallel, int m, int n, int k, const float* a, int lda,
                       bool trans_a, const float* b, int ldb, bool trans_b, float* c, int ldc, bool accumulate) {
  sgemm_dispatch(config, parallel, make_args(m, n, k, a, lda, trans_a, b, ldb, trans_b, c, ldc, accumulate));
}

}  // namespace convkit
