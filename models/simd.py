"""Explicit float32 vector operations for the numba kernels (`models.conv_kernels`).

LLVM vectorises a loop over a row's columns, but a partial sum of several rows (several spikes'
tap vectors, a GEMM row's terms) then goes through memory once per row or group of rows. These
intrinsics keep each element's partial sum in a vector register while they add the rows. Each
lane does what the scalar loop did to its element: one IEEE float32 rounded addition per row
(`add_rows`), or one rounded product and one rounded addition per term, in term order from +0
(`taps_product`: no fused multiply-add, no reassociation, no fast-math flags), so the results are
bit for bit those of the loops they replace (`models.gemm.row_product`'s order).
Arrays must be C-contiguous (float32, or uint8 for `word8`); offsets are in elements and are not
bounds-checked.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_F32 = ir.FloatType()


def _float_array(t, ndim: int) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.float32 and t.ndim == ndim and t.layout == "C"


def _vector_ptr(builder, base, offset, lanes: int):
    return builder.bitcast(builder.gep(base, [offset]), ir.VectorType(_F32, lanes).as_pointer())


@intrinsic
def word8(typingctx, a, off):
    """The eight bytes a[off:off + 8] of a 1-D uint8 array as one uint64 (any alignment): zero exactly
    when all eight are."""
    if not (isinstance(a, types.Array) and a.dtype == types.uint8 and a.ndim == 1 and a.layout == "C"):
        return None
    sig = types.uint64(a, types.intp)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return sig, codegen


TAPS = 9  # the tap vectors of a 3 x 3 kernel that `taps_product` sums at once


def _make_dot(vectors: int, lanes: int):
    """An intrinsic: `vectors` x `lanes` columns of one GEMM row summed in registers."""

    @intrinsic
    def dot(typingctx, out, b, idx, val, nz):
        if not (_float_array(out, 1) and _float_array(b, 2) and _float_array(val, 1)
                and isinstance(idx, types.Array) and idx.dtype == types.intp and idx.ndim == 1):
            return None
        sig = types.void(out, b, idx, val, types.intp)

        def codegen(context, builder, signature, args):
            outv, bv, idxv, valv, nz = args
            barr = context.make_array(signature.args[1])(context, builder, bv)
            o = context.make_array(signature.args[0])(context, builder, outv).data
            stride = builder.extract_value(barr.strides, 0)  # bytes
            ip = context.make_array(signature.args[2])(context, builder, idxv).data
            vp = context.make_array(signature.args[3])(context, builder, valv).data
            vt = ir.VectorType(_F32, lanes)
            intp = ir.IntType(64)
            zero = ir.Constant(vt, [0.0] * lanes)
            entry = builder.basic_block
            loop = builder.append_basic_block("dot.loop")
            done = builder.append_basic_block("dot.done")
            builder.cbranch(builder.icmp_signed(">", nz, ir.Constant(intp, 0)), loop, done)
            builder.position_at_end(loop)
            q = builder.phi(intp)
            accs = [builder.phi(vt) for _ in range(vectors)]
            a = builder.load(builder.gep(vp, [q]))
            splat = builder.shuffle_vector(builder.insert_element(ir.Constant(vt, ir.Undefined), a,
                                                                  ir.Constant(ir.IntType(32), 0)),
                                           ir.Constant(vt, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
            row_bytes = builder.mul(builder.load(builder.gep(ip, [q])), stride)
            row = builder.bitcast(builder.gep(builder.bitcast(barr.data, ir.IntType(8).as_pointer()), [row_bytes]),
                                  _F32.as_pointer())
            new = []
            for v in range(vectors):
                term = builder.fmul(splat, builder.load(_vector_ptr(builder, row, ir.Constant(intp, lanes * v), lanes),
                                                        align=4))
                new.append(builder.fadd(accs[v], term))
            q1 = builder.add(q, ir.Constant(intp, 1))
            builder.cbranch(builder.icmp_signed("<", q1, nz), loop, done)
            q.add_incoming(ir.Constant(intp, 0), entry)
            q.add_incoming(q1, loop)
            for acc, n in zip(accs, new):
                acc.add_incoming(zero, entry)
                acc.add_incoming(n, loop)
            builder.position_at_end(done)
            results = [builder.phi(vt) for _ in range(vectors)]
            for v, res in enumerate(results):
                res.add_incoming(zero, entry)
                res.add_incoming(new[v], loop)
                builder.store(res, _vector_ptr(builder, o, ir.Constant(intp, lanes * v), lanes), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return dot


_TAPS8, _TAPS16 = _make_dot(TAPS, 8), _make_dot(TAPS, 16)


@njit(cache=True, error_model="numpy", inline="always")
def taps_product(out, b, idx, val, nz):
    """out[j] = sum over q < nz, in order, from +0, of val[q] * b[idx[q], j] for the TAPS * 8 or TAPS * 16
    columns of `b` (F, TAPS * lanes), in registers: `models.gemm.row_product`'s sums."""
    if b.shape[1] == TAPS * 16:
        _TAPS16(out, b, idx, val, nz)
    else:
        _TAPS8(out, b, idx, val, nz)


def _make_sum(widths: tuple[int, ...]):
    """An intrinsic adding rows of a 1-D array onto sum(widths) floats of another, in registers (one
    vector of each width)."""

    @intrinsic
    def add_rows(typingctx, dst, d0, src, offs, count, j0):
        if not (_float_array(dst, 1) and _float_array(src, 1) and isinstance(offs, types.Array)
                and offs.dtype == types.intp and offs.ndim == 1):
            return None
        sig = types.void(dst, types.intp, src, offs, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            dv, d0, sv, ov, count, j0 = args
            d = context.make_array(signature.args[0])(context, builder, dv).data
            s = context.make_array(signature.args[2])(context, builder, sv).data
            op = context.make_array(signature.args[3])(context, builder, ov).data
            intp = ir.IntType(64)
            at = [sum(widths[:v]) for v in range(len(widths))]
            ptrs = [_vector_ptr(builder, d, builder.add(d0, ir.Constant(intp, a)), n) for a, n in zip(at, widths)]
            start = [builder.load(p, align=4) for p in ptrs]
            entry = builder.basic_block
            loop = builder.append_basic_block("sum.loop")
            done = builder.append_basic_block("sum.done")
            builder.cbranch(builder.icmp_signed(">", count, ir.Constant(intp, 0)), loop, done)
            builder.position_at_end(loop)
            q = builder.phi(intp)
            accs = [builder.phi(ir.VectorType(_F32, n)) for n in widths]
            base = builder.add(builder.load(builder.gep(op, [q])), j0)
            new = [builder.fadd(acc, builder.load(_vector_ptr(builder, s, builder.add(base, ir.Constant(intp, a)), n),
                                                  align=4)) for acc, a, n in zip(accs, at, widths)]
            q1 = builder.add(q, ir.Constant(intp, 1))
            builder.cbranch(builder.icmp_signed("<", q1, count), loop, done)
            q.add_incoming(ir.Constant(intp, 0), entry)
            q.add_incoming(q1, loop)
            for acc, n, s0 in zip(accs, new, start):
                acc.add_incoming(s0, entry)
                acc.add_incoming(n, loop)
            builder.position_at_end(done)
            results = [builder.phi(ir.VectorType(_F32, n)) for n in widths]
            for res, n, s0, p in zip(results, new, start, ptrs):
                res.add_incoming(s0, entry)
                res.add_incoming(n, loop)
                builder.store(res, p, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return add_rows


_SUM64 = _make_sum((16, 16, 16, 16))
_SUM8, _SUM16, _SUM24, _SUM32 = _make_sum((8,)), _make_sum((16,)), _make_sum((16, 8)), _make_sum((16, 16))
_SUM40, _SUM48, _SUM56 = _make_sum((16, 16, 8)), _make_sum((16, 16, 16)), _make_sum((16, 16, 16, 8))


@njit(cache=True, error_model="numpy", inline="always")
def add_rows(dst, d0, src, offs, count, n):
    """dst[d0 + j] = (((dst[d0 + j] + src[offs[0] + j]) + src[offs[1] + j]) + ...) over q < count, in
    order, for j < n (a multiple of 8): each element's partial sum stays in a register, 64 columns
    at a time and the rest (8 to 56) in one more pass."""
    j = 0
    while j + 64 <= n:
        _SUM64(dst, d0 + j, src, offs, count, j)
        j += 64
    rest = n - j
    if rest == 8:
        _SUM8(dst, d0 + j, src, offs, count, j)
    elif rest == 16:
        _SUM16(dst, d0 + j, src, offs, count, j)
    elif rest == 24:
        _SUM24(dst, d0 + j, src, offs, count, j)
    elif rest == 32:
        _SUM32(dst, d0 + j, src, offs, count, j)
    elif rest == 40:
        _SUM40(dst, d0 + j, src, offs, count, j)
    elif rest == 48:
        _SUM48(dst, d0 + j, src, offs, count, j)
    elif rest == 56:
        _SUM56(dst, d0 + j, src, offs, count, j)
