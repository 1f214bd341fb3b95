//! Builds uwsgi-fast: our C sources, llhttp's C sources, linked against liburing,
//! mimalloc, zlib and the embedding libpython of a selectable interpreter.
//!
//!   zig build                 optimised binary in zig-out/bin/uwsgi-fast
//!   zig build test            C unit tests, closing line "N passed, N failed"
//!   zig build run -- APP      build and serve APP
//!   zig build -Doptimize=Debug  assertions + UBSan (Zig's C default in Debug)
//!   pip wheel .               the same binary in a wheel, liburing and mimalloc linked
//!                             statically (-Dstatic-deps; build_backend/ passes the options)
const std = @import("std");

pub fn build(b: *std.Build) void {
    // ---- options -------------------------------------------------------------
    const target = b.standardTargetOptions(.{});
    const optimize = b.option(
        std.builtin.OptimizeMode,
        "optimize",
        "Optimisation mode (default: ReleaseFast; Debug adds UBSan and debug info)",
    ) orelse .ReleaseFast;
    const python = b.option(
        []const u8,
        "python",
        "Python interpreter whose libpython is embedded (default: python3 on PATH)",
    ) orelse "python3";
    const llhttp_src = b.option(
        []const u8,
        "llhttp-src",
        "Directory with llhttp's C sources (default: /usr/share/llhttp, Debian node-llhttp)",
    ) orelse "/usr/share/llhttp";
    const llhttp_inc = b.option(
        []const u8,
        "llhttp-include",
        "Directory with llhttp.h (default: /usr/share/include/llhttp, Debian node-llhttp)",
    ) orelse "/usr/share/include/llhttp";
    // The wheel (build_backend/) carries no shared library but libc and libpython: its
    // build links liburing's archive (Debian liburing-dev ships liburing.a) and a
    // mimalloc archive (Debian ships none, so the backend takes cmeel-mimalloc's).
    const static_deps = b.option(
        bool,
        "static-deps",
        "Link liburing and mimalloc from static archives, as the wheel does (default: false)",
    ) orelse false;
    const mimalloc_archive = b.option(
        []const u8,
        "mimalloc-archive",
        "libmimalloc.a for -Dstatic-deps (default: none; the wheel build passes one)",
    );
    // The research instruments (docs/research.md): request phases, ring counters, USDT
    // probes. Off, they compile to nothing (common/probes.h): the build whose cost the
    // benchmark's "instruments on vs off" comparison measures against the default.
    const instruments = b.option(
        bool,
        "instruments",
        "Compile in the request phases' clock reads, the ring counters and the USDT probes (default: true)",
    ) orelse true;
    const mimalloc_inc = b.option(
        []const u8,
        "mimalloc-include",
        "Directory with mimalloc.h (default: the system's, Debian libmimalloc-dev)",
    );

    // ---- system dependencies: fail loudly, naming the package ----------------
    requireFile(b, "/usr/include/liburing.h", "liburing-dev");
    requireFile(b, b.pathJoin(&.{ mimalloc_inc orelse "/usr/include", "mimalloc.h" }), "libmimalloc-dev");
    if (static_deps and mimalloc_archive == null) {
        std.debug.print("error: -Dstatic-deps needs -Dmimalloc-archive=PATH/libmimalloc.a (Debian ships no static mimalloc; pip install cmeel-mimalloc has one)\n", .{});
        std.process.exit(1);
    }
    if (mimalloc_archive) |path| requireFile(b, path, "libmimalloc.a (pip install cmeel-mimalloc)");
    const deps = Deps{ .static = static_deps, .mimalloc_archive = mimalloc_archive, .mimalloc_inc = mimalloc_inc };
    requireFile(b, "/usr/include/zlib.h", "zlib1g-dev");
    requireFile(b, b.pathJoin(&.{ llhttp_src, "llhttp.c" }), "node-llhttp");
    requireFile(b, b.pathJoin(&.{ llhttp_inc, "llhttp.h" }), "node-llhttp");
    const py = probePython(b, python);

    const version = readVersion(b);
    const cflags = b.fmt("-DUF_VERSION=\"{s}\"", .{version});
    const instruments_flag = if (instruments) "-DUF_INSTRUMENTS=1" else "-DUF_INSTRUMENTS=0";
    const our_flags: []const []const u8 = &.{
        "-std=gnu11",            "-Wall",                           "-Wextra",
        "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing",
        "-D_GNU_SOURCE",         cflags,                            instruments_flag,
    };
    // What the build is made of, for tunables/ only (--version; a gunicorn.conf.py is run by
    // the interpreter whose libpython we embed): kept off the other folders so that builds
    // against another interpreter or linkage (the wheel's) reuse their cached objects.
    const linked = if (static_deps) "liburing, mimalloc and llhttp linked in statically" else "liburing and mimalloc shared, llhttp compiled in";
    const identity_flags = std.mem.concat(b.allocator, []const u8, &.{ our_flags, &.{
        b.fmt("-DUF_PYTHON=\"{s}\"", .{py.executable}),
        b.fmt("-DUF_PYTHON_VERSION=\"{s}\"", .{py.version}),
        b.fmt("-DUF_LINKED=\"{s}\"", .{linked}),
    } }) catch @panic("OOM");

    // ---- one library per folder, in dependency order -------------------------
    // Each folder compiles against the headers of the folders it may use and no others
    // (a copy of just those headers is its include root), so an include that breaks the
    // layering fails the build. The table is docs/architecture.md's "Layers".
    var libs: [layers.len]*std.Build.Step.Compile = undefined;
    for (layers, 0..) |layer, i| {
        const lib = b.addStaticLibrary(.{
            .name = b.fmt("uwsgi-fast-{s}", .{layer.folder}),
            .target = target,
            .optimize = optimize,
        });
        const identity = std.mem.eql(u8, layer.folder, "tunables");
        lib.addCSourceFiles(.{ .files = layer.sources, .flags = if (identity) identity_flags else our_flags });
        const headers = b.addWriteFiles();
        for (layer.uses) |folder| {
            _ = headers.addCopyDirectory(b.path(folder), folder, .{ .include_extensions = &.{".h"} });
        }
        _ = headers.addCopyDirectory(b.path(layer.folder), layer.folder, .{ .include_extensions = &.{".h"} });
        lib.addIncludePath(headers.getDirectory());
        if (std.mem.eql(u8, layer.folder, "src")) {
            lib.addCSourceFiles(.{
                .root = .{ .cwd_relative = llhttp_src },
                .files = &.{ "llhttp.c", "api.c", "http.c" },
                // strict mode refuses bare CR line ends and raw bytes >= 0x80 or HTAB in
                // the request-target, which lenient parsing lets through (request smuggling)
                .flags = &.{ "-w", "-DLLHTTP_STRICT_MODE=1" },
            });
        }
        configure(b, lib, py, deps, llhttp_inc, false);
        libs[i] = lib;
    }

    // ---- the binary ----------------------------------------------------------
    const exe = b.addExecutable(.{ .name = "uwsgi-fast", .target = target, .optimize = optimize });
    exe.addCSourceFiles(.{ .files = &.{"src/main.c"}, .flags = our_flags });
    linkLayers(exe, &libs);
    configure(b, exe, py, deps, llhttp_inc, true);
    b.installArtifact(exe);

    // ---- run -----------------------------------------------------------------
    const run = b.addRunArtifact(exe);
    if (b.args) |args| run.addArgs(args);
    run.step.dependOn(b.getInstallStep());
    b.step("run", "Build and run uwsgi-fast with the given arguments").dependOn(&run.step);

    // ---- unit tests: one executable per tests/unit/<folder>/<module>_test.c --
    const runner = b.addExecutable(.{ .name = "unit-runner", .target = target, .optimize = .ReleaseSafe });
    runner.addCSourceFiles(.{ .files = &.{"tests/unit/runner.c"}, .flags = our_flags });
    runner.linkLibC();
    const run_tests = b.addRunArtifact(runner);
    run_tests.stdio = .inherit;
    run_tests.has_side_effects = true;
    run_tests.setEnvironmentVariable("UF_SOURCE_ROOT", b.build_root.path orelse ".");
    for (discoverUnitTests(b)) |path| {
        const name = b.fmt("unit-{s}", .{std.fs.path.stem(path)});
        const t = b.addExecutable(.{ .name = name, .target = target, .optimize = optimize });
        t.addCSourceFiles(.{ .files = &.{path}, .flags = identity_flags });
        t.addIncludePath(b.path("tests/unit"));
        linkLayers(t, &libs);
        configure(b, t, py, deps, llhttp_inc, true);
        run_tests.addArtifactArg(t);
    }
    b.step("test", "Run the C unit tests").dependOn(&run_tests.step);
}

const Python = struct { include: []const u8, libdir: []const u8, lib: []const u8, executable: []const u8, version: []const u8 };
const Deps = struct { static: bool, mimalloc_archive: ?[]const u8, mimalloc_inc: ?[]const u8 };

/// Include paths for every compile (the repository root only where every folder may be
/// seen: main.c and the tests); system libraries only for executables (a static archive
/// that "links" a shared library would just carry the .so as a bogus member).
fn configure(b: *std.Build, c: *std.Build.Step.Compile, py: Python, deps: Deps, llhttp_inc: []const u8, whole_tree: bool) void {
    c.linkLibC();
    if (whole_tree) c.addIncludePath(b.path("."));
    c.addIncludePath(.{ .cwd_relative = llhttp_inc });
    // only common/mem.c includes mimalloc.h: the other folders' objects stay shared
    // between the standalone build and the wheel's
    if (deps.mimalloc_inc) |dir| if (whole_tree or std.mem.eql(u8, c.name, "uwsgi-fast-common")) c.addIncludePath(.{ .cwd_relative = dir });
    c.addIncludePath(.{ .cwd_relative = py.include });
    if (c.kind != .exe) return;
    c.addLibraryPath(.{ .cwd_relative = py.libdir });
    c.addRPath(.{ .cwd_relative = py.libdir });
    if (deps.static) {
        c.linkSystemLibrary2("uring", .{ .use_pkg_config = .no, .preferred_link_mode = .static, .search_strategy = .mode_first });
        c.addObjectFile(.{ .cwd_relative = deps.mimalloc_archive.? });
        c.linkSystemLibrary2("z", .{ .use_pkg_config = .no, .preferred_link_mode = .static, .search_strategy = .mode_first });
    } else {
        c.linkSystemLibrary2("uring", .{ .use_pkg_config = .no });
        c.linkSystemLibrary2("mimalloc", .{ .use_pkg_config = .no });
        c.linkSystemLibrary2("z", .{ .use_pkg_config = .no });
    }
    c.linkSystemLibrary2(py.lib, .{ .use_pkg_config = .no });
    c.linkSystemLibrary2("m", .{ .use_pkg_config = .no });
}

/// Upper layers first, so that each library's undefined symbols are found further on.
fn linkLayers(c: *std.Build.Step.Compile, libs: []const *std.Build.Step.Compile) void {
    var i = libs.len;
    while (i > 0) {
        i -= 1;
        c.linkLibrary(libs[i]);
    }
}

fn requireFile(b: *std.Build, path: []const u8, package: []const u8) void {
    _ = b;
    std.fs.accessAbsolute(path, .{}) catch {
        std.debug.print("error: {s} not found: install the Debian package {s} (apt-get install {s})\n", .{ path, package, package });
        std.process.exit(1);
    };
}

/// Asks the interpreter itself where its headers and shared libpython live, so that
/// -Dpython=/path/to/venv/bin/python3 embeds exactly that Python.
fn probePython(b: *std.Build, python: []const u8) Python {
    const script =
        \\import sysconfig as s
        \\if not s.get_config_var('Py_ENABLE_SHARED'):
        \\    raise SystemExit('this Python has no shared libpython')
        \\print(s.get_paths()['include'])
        \\print(s.get_config_var('LIBDIR'))
        \\print('python' + s.get_config_var('LDVERSION'))
        \\import sys; print(sys.executable)
        \\import platform; print(platform.python_version())
    ;
    var code: u8 = 0;
    const out = b.runAllowFail(&.{ python, "-c", script }, &code, .Inherit) catch {
        std.debug.print("error: cannot query {s} for its libpython (need a Python built with --enable-shared; on Debian: apt-get install python3-dev)\n", .{python});
        std.process.exit(1);
    };
    var it = std.mem.tokenizeScalar(u8, out, '\n');
    const py = Python{ .include = it.next().?, .libdir = it.next().?, .lib = it.next().?, .executable = it.next().?, .version = it.next().? };
    requireFile(b, b.pathJoin(&.{ py.include, "Python.h" }), "python3-dev");
    return py;
}

fn readVersion(b: *std.Build) []const u8 {
    const raw = b.build_root.handle.readFileAlloc(b.allocator, "VERSION", 64) catch "0.0.0";
    return std.mem.trim(u8, raw, " \n\r\t");
}

fn discoverUnitTests(b: *std.Build) []const []const u8 {
    var list = std.ArrayList([]const u8).init(b.allocator);
    var dir = b.build_root.handle.openDir("tests/unit", .{ .iterate = true }) catch return &.{};
    defer dir.close();
    var walker = dir.walk(b.allocator) catch @panic("OOM");
    defer walker.deinit();
    while (walker.next() catch null) |entry| {
        if (entry.kind != .file or !std.mem.endsWith(u8, entry.basename, "_test.c")) continue;
        list.append(b.pathJoin(&.{ "tests/unit", entry.path })) catch @panic("OOM");
    }
    std.mem.sort([]const u8, list.items, {}, struct {
        fn lt(_: void, a: []const u8, c: []const u8) bool {
            return std.mem.lessThan(u8, a, c);
        }
    }.lt);
    return list.items;
}

// ---- layers and their sources (everything but src/main.c) ---------------------
// A folder may include the headers of the folders in `uses` and its own, nothing else.
const Layer = struct { folder: []const u8, uses: []const []const u8, sources: []const []const u8 };

const layers = [_]Layer{
    .{ .folder = "common", .uses = &.{}, .sources = &.{
        "common/mem.c",
        "common/log.c",
        "common/net.c",
    } },
    .{ .folder = "tunables", .uses = &.{"common"}, .sources = &.{
        "tunables/text.c",
        "tunables/settings.c",
        "tunables/values.c",
        "tunables/bind.c",
        "tunables/activation.c",
        "tunables/suggest.c",
        "tunables/refuse.c",
        "tunables/cli.c",
        "tunables/config_file.c",
        "tunables/layers.c",
        "tunables/print.c",
        "tunables/help.c",
        "tunables/markdown.c",
        "tunables/toml.c",
        "tunables/lists.c",
        "tunables/ids.c",
        "tunables/pyconfig.c",
        "tunables/logconfig.c",
        "tunables/host.c",
        "tunables/doctor.c",
    } },
    .{ .folder = "epoll", .uses = &.{"common"}, .sources = &.{
        "epoll/ep.c",
    } },
    .{ .folder = "uring", .uses = &.{ "common", "epoll" }, .sources = &.{
        "uring/ring.c",
    } },
    .{ .folder = "python_bridge", .uses = &.{ "common", "tunables" }, .sources = &.{
        "python_bridge/interp.c",
        "python_bridge/errors.c",
        "python_bridge/hooks.c",
        "python_bridge/wsgi.c",
        "python_bridge/wsgi_environ.c",
        "python_bridge/wsgi_filewrapper.c",
        "python_bridge/wsgi_headers.c",
        "python_bridge/wsgi_input.c",
        "python_bridge/wsgi_reply.c",
        "python_bridge/reload.c",
        "python_bridge/reqtext.c",
        "python_bridge/asgi.c",
        "python_bridge/asgi_io.c",
        "python_bridge/asgi_scope.c",
        "python_bridge/asgi_ws.c",
    } },
    .{ .folder = "src", .uses = &.{ "common", "tunables", "uring", "python_bridge" }, .sources = &.{
        "src/master.c",
        "src/master_view.c",
        "src/privileges.c",
        "src/proctitle.c",
        "src/churn.c",
        "src/preflight.c",
        "src/listeners.c",
        "src/budget.c",
        "src/scoreboard.c",
        "src/filewatch.c",
        "src/reloader.c",
        "src/worker.c",
        "src/conn.c",
        "src/asgiconn.c",
        "src/proxy.c",
        "src/proxyproto.c",
        "src/proxyhdr.c",
        "src/uwsgiproto.c",
        "src/uwsgireq.c",
        "src/admit.c",
        "src/reply.c",
        "src/filesend.c",
        "src/spool.c",
        "src/handoff.c",
        "src/pool.c",
        "src/loopcall.c",
        "src/share.c",
        "src/steer.c",
        "src/sdnotify.c",
        "src/http.c",
        "src/wsutf8.c",
        "src/wsframe.c",
        "src/wsread.c",
        "src/wsconn.c",
        "src/wsdeflate.c",
        "src/wshandshake.c",
        "src/sha1.c",
        "src/base64.c",
        "src/response.c",
        "src/accesslog.c",
        "src/accesslog_writer.c",
        "src/logship.c",
        "src/syslogcfg.c",
        "src/capture.c",
        "src/stats.c",
        "src/metrics.c",
        "src/scrape.c",
    } },
};
