// The k-quant scale searches (ggml's make_qx_quants, make_q3_quants, make_qkx2_quants).
// Written so each float operation happens in the same order as ggml's reference: the chosen
// scale, and so every quantized byte, must come out identical to llama-quantize's.

#include "tensor/types/quant_common.h"

#include "util/fp16.h"

#include <algorithm>
#include <cmath>

namespace retort::quant {

namespace {
// Index of the element with the largest |x|, first one on ties; its signed value decides the
// sign of the scale so that this element lands exactly on -nmax.
float signed_absmax(int n, const float* x, float* amax_out) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

int clamp(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }
}  // namespace

float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    // Candidate scale 0: the one mapping the largest element to -nmax. For every candidate,
    // the best scale for fixed quants l is the weighted least-squares one, sum(w x l)/sum(w l^2),
    // and its error is smallest where (sum w x l)^2 / sum(w l^2) is largest.
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];  // weight big values more: they dominate the dot products
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    // Nudge the target range by +-0.1 .. +-0.9 and keep any candidate that fits better.
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i)
                L[i] = (int8_t)(nmax + clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    // Coordinate descent, at most 5 sweeps: re-round one quant against the least-squares scale
    // of all the others, and keep the move if (sum w x l)^2 / sum(w l^2) grows.
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    // The offset is only ever subtracted: a group of positive values still starts at 0.
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    // Starting point: spread [min, max] over [0, nmax].
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)clamp(l, 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        // Round with a slightly different step, then solve the 2x2 weighted least-squares
        // problem  min sum w (scale*l + min - x)^2  for (scale, min) with those quants fixed.
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {  // a positive offset cannot be stored: refit scale alone
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

void quantize_super_block_k(const float* x, int nmax, float rmin, int nstep, uint8_t scales[kKScaleSize],
                            uint16_t* d, uint16_t* dmin, uint8_t L[kQK_K]) {
    constexpr int kSub = kQK_K / 32;
    uint8_t Laux[32];
    float weights[32], sub_mins[kSub], sub_scales[kSub];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kSub; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        sub_scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &sub_mins[j], Laux, rmin, 0.1f, nstep, false);
        max_scale = std::max(max_scale, sub_scales[j]);
        max_min = std::max(max_min, sub_mins[j]);
    }

    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kSub; ++j) {
        // uint8_t, then clip: the same wrap-then-clip ggml applies.
        const uint8_t ls = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_scale * sub_scales[j]));
        const uint8_t lm = std::min<uint8_t>(63, (uint8_t)nearest_int(inv_min * sub_mins[j]));
        if (j < 4) {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = f32_to_fp16(max_scale / 63.f);
    *dmin = f32_to_fp16(max_min / 63.f);

    // A sub-block whose scale rounded to 0 keeps the quants of its search.
    for (int j = 0; j < kSub; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales, &sc, &m);
        const float dl = fp16_to_f32(*d) * sc;
        if (!dl) continue;
        const float dm = fp16_to_f32(*dmin) * m;
        for (int l = 0; l < 32; ++l)
            L[32 * j + l] = (uint8_t)std::clamp(nearest_int((x[32 * j + l] + dm) / dl), 0, nmax);
    }
}

void dequantize_super_block_k(const uint8_t scales[kKScaleSize], uint16_t d, uint16_t dmin, const uint8_t q[kQK_K],
                              float* y) {
    const float df = fp16_to_f32(d), dminf = fp16_to_f32(dmin);
    for (int j = 0; j < kQK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales, &sc, &m);
        // The products d*sc and dmin*m are formed first, as in ggml: bit-exact results.
        const float dl = df * sc, ml = dminf * m;
        for (int l = 0; l < 32; ++l) y[32 * j + l] = dl * q[32 * j + l] - ml;
    }
}

}  // namespace retort::quant
