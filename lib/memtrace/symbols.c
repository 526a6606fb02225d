/*
 * symbols.c - return addresses to frames (file, line, function), after the
 * fact, with elfutils libdw.
 *
 * The tracer never symbolizes: it records raw return addresses and the
 * module map (path, load bias, text range, build-id).  Here each module
 * gets its own offline libdwfl session, opened the first time an address
 * falls in it, with the file reported at its runtime bias so addresses are
 * looked up as they are; separate debug files are found the standard way
 * (build-id under /usr/lib/debug/.build-id, .gnu_debuglink).  A module whose
 * file is gone, is not a file ("[vdso]"), or whose build-id is not the one
 * recorded is never read: its frames get the "<libfoo.so+0x1234>" form and
 * no function, because a different file would give a wrong answer.
 *
 * Return addresses point after the call, so lookups are at address - 1.
 * An address inside inlined code yields one frame per inlining level,
 * innermost first: each inlined callee's call site (DW_AT_call_file/line)
 * becomes the file:line of the frame around it.  C++ names are demangled
 * with __cxa_demangle.  Results are cached per address, so a report on a
 * million blocks does the DWARF work once per distinct address.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis-internal.h"

/*
 * libstdc++'s demangler (extern "C" in <cxxabi.h>, which is C++ only),
 * found when first needed: in the program already when it is C++, else
 * loaded then.  Linking libstdc++ would load it into every traced C program,
 * whose start-up would then allocate libstdc++'s exception pool (71 KiB)
 * and show it as the program's.
 */
typedef char *(*demangle_fn)(const char *mangled, char *buf, size_t *len, int *status);
static demangle_fn demangler;
static pthread_once_t demangler_once = PTHREAD_ONCE_INIT;

static void find_demangler(void)
{
	void *fn = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (!fn) {
		void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
		if (h)
			fn = dlsym(h, "__cxa_demangle");
	}
	demangler = (demangle_fn)fn;
}

static char *demangle(const char *name, int *status)
{
	pthread_once(&demangler_once, find_demangler);
	return demangler ? demangler(name, NULL, NULL, status) : NULL;
}

struct symmod {
	struct mt_module m; /* strings in the pool */
	const char *label;  /* basename of the path, for "<label+0xoff>" */
	Dwfl *dwfl;
	Dwfl_Module *dm;
	int state; /* 0 not opened yet, 1 usable, -1 no information to be had */
};

struct addr_slot {
	uintptr_t addr;
	plumb_memtrace_frame *frames; /* NULL: empty slot */
	size_t n;
};

struct norm_slot {
	const char *raw, *dir, *norm; /* (raw, dir) -> norm; all pooled */
};

struct mt_symtab {
	pthread_mutex_t lock;
	int refs;
	struct mt_pool pool;
	struct symmod *mods;
	struct mt_module *pub; /* the same modules, for mt_symtab_modules */
	size_t nmods;
	struct addr_slot *addrs;
	size_t naddr_slots, naddrs;
	struct norm_slot *norms;
	size_t nnorm_slots, nnorms;
};

const plumb_memtrace_frame mt_unknown_frame = {.filename = "<unknown>"};

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static struct mt_symtab *symtab_build(const struct mt_module *mods, size_t nmods);

/*
 * The last table made, kept (with a reference of its own) for the next
 * request over the same modules: in a traced program every snapshot and
 * every get_object_traceback names the same module map, and opening each
 * module's debug information anew cost ~40 ms a call.  Tables are locked
 * inside, so sharing one between snapshots and threads is safe.
 */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_symtab *last;

static bool same_modules(const struct mt_symtab *st, const struct mt_module *mods, size_t n)
{
	if (st->nmods != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct mt_module *a = &st->pub[i], *b = &mods[i];
		if (a->start != b->start || a->end != b->end || a->bias != b->bias ||
		    strcmp(a->path, b->path ? b->path : "") != 0 ||
		    a->build_id_len != b->build_id_len ||
		    (a->build_id_len && memcmp(a->build_id, b->build_id, a->build_id_len) != 0))
			return false;
	}
	return true;
}

struct mt_symtab *mt_symtab_new(const struct mt_module *mods, size_t nmods)
{
	pthread_mutex_lock(&last_lock);
	struct mt_symtab *st = last && same_modules(last, mods, nmods) ? mt_symtab_ref(last) : NULL;
	pthread_mutex_unlock(&last_lock);
	if (st)
		return st;
	st = symtab_build(mods, nmods);
	if (st) {
		pthread_mutex_lock(&last_lock);
		struct mt_symtab *old = last;
		last = mt_symtab_ref(st);
		pthread_mutex_unlock(&last_lock);
		mt_symtab_unref(old);
	}
	return st;
}

static struct mt_symtab *symtab_build(const struct mt_module *mods, size_t nmods)
{
	struct mt_symtab *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	st->refs = 1;
	if (nmods) {
		st->mods = calloc(nmods, sizeof *st->mods);
		st->pub = calloc(nmods, sizeof *st->pub);
		if (!st->mods || !st->pub)
			goto fail;
	}
	for (size_t i = 0; i < nmods; i++) {
		struct symmod *sm = &st->mods[i];
		const char *path = mods[i].path ? mods[i].path : "";
		sm->m = mods[i];
		sm->m.path = mt_pool_intern(&st->pool, path);
		if (!sm->m.path)
			goto fail;
		if (mods[i].build_id_len) {
			uint8_t *id = mt_pool_alloc(&st->pool, mods[i].build_id_len);
			if (!id)
				goto fail;
			memcpy(id, mods[i].build_id, mods[i].build_id_len);
			sm->m.build_id = id;
		} else {
			sm->m.build_id = NULL;
		}
		sm->label = *path ? basename_of(sm->m.path) : "unknown";
		st->pub[i] = sm->m;
	}
	st->nmods = nmods;
	return st;
fail:
	st->nmods = nmods;
	mt_symtab_unref(st);
	return NULL;
}

struct mt_symtab *mt_symtab_ref(struct mt_symtab *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	return st;
}

void mt_symtab_unref(struct mt_symtab *st)
{
	if (!st || __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; st->mods && i < st->nmods; i++)
		if (st->mods[i].dwfl)
			dwfl_end(st->mods[i].dwfl);
	free(st->mods);
	free(st->pub);
	free(st->addrs);
	free(st->norms);
	mt_pool_free(&st->pool);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

size_t mt_symtab_modules(const struct mt_symtab *st, const struct mt_module **mods)
{
	*mods = st->pub;
	return st->nmods;
}

/* ---- Modules ---- */

/* The module holding @a; the latest listed when several overlap (a library
 * unloaded and another mapped at its place: stacks recorded later are the
 * more numerous). */
static struct symmod *find_module(struct mt_symtab *st, uintptr_t a)
{
	for (size_t i = st->nmods; i-- > 0;) {
		struct symmod *sm = &st->mods[i];
		if (sm->m.start <= a && a < sm->m.end)
			return sm;
	}
	return NULL;
}

static bool is_file_path(const char *path)
{
	return path[0] == '/' || (path[0] && path[0] != '[' && strchr(path, '/'));
}

static const Dwfl_Callbacks offline_callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
};

/* Opens the module's file in a libdwfl session of its own, at its runtime
 * bias, and checks that it is the file the process had mapped. */
static int open_module(struct symmod *sm)
{
	if (sm->state)
		return sm->state;
	sm->state = -1;
	if (!is_file_path(sm->m.path))
		return -1;
	sm->dwfl = dwfl_begin(&offline_callbacks);
	if (!sm->dwfl)
		return -1;
	dwfl_report_begin(sm->dwfl);
	sm->dm = dwfl_report_elf(sm->dwfl, sm->label, sm->m.path, -1, sm->m.bias, true);
	dwfl_report_end(sm->dwfl, NULL, NULL);
	if (!sm->dm)
		goto unusable;
	if (sm->m.build_id_len) {
		const unsigned char *bits;
		GElf_Addr vaddr;
		int len = dwfl_module_build_id(sm->dm, &bits, &vaddr);
		if (len <= 0 || (size_t)len != sm->m.build_id_len ||
		    memcmp(bits, sm->m.build_id, (size_t)len) != 0)
			goto unusable;
	}
	sm->state = 1;
	return 1;
unusable:
	dwfl_end(sm->dwfl);
	sm->dwfl = NULL;
	sm->dm = NULL;
	return -1;
}

/* ---- Names ---- */

static const char *intern_name(struct mt_symtab *st, const char *name)
{
	if (!name || !*name)
		return NULL;
	if (name[0] == '_' && name[1] == 'Z') {
		int status = -1;
		char *d = demangle(name, &status);
		if (d && status == 0) {
			const char *r = mt_pool_intern(&st->pool, d);
			free(d);
			return r;
		}
		free(d);
	}
	return mt_pool_intern(&st->pool, name);
}

/* A function's name: the C++ mangled name when there is one (demangled, it
 * says the class and the parameters), else the plain name - a C function
 * renamed with an asm label (glibc's qsort is "__GI_qsort") has a linkage
 * name nobody wants to read. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute at;
	const char *link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &at));
	if (!link)
		link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at));
	if (link && link[0] == '_' && link[1] == 'Z')
		return link;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &at));
	return name ? name : link;
}

/* "/a/b/../c/./d.c" -> "/a/c/d.c", as os.path.normpath does; NULL when
 * nothing changes. */
static char *normpath(const char *path)
{
	size_t len = strlen(path);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	bool abs = path[0] == '/';
	size_t o = 0, depth = 0; /* components that ".." may remove */
	if (abs)
		out[o++] = '/';
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.' && (depth > 0 || abs)) {
			if (depth > 0) {
				/* drop the last component and its slash */
				while (o > (abs ? 1u : 0u) && out[o - 1] != '/')
					o--;
				if (o > (abs ? 1u : 0u))
					o--;
				depth--;
			}
		} else {
			if (o > (abs ? 1u : 0u))
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
			if (!(n == 2 && p[0] == '.' && p[1] == '.'))
				depth++;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	if (strcmp(out, path) == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The name a source file is shown by: the compiler's path, made absolute
 * with the compilation directory when it is relative, and tidy
 * ("build/../src/x.c" -> "src/x.c") when the tidy path names an existing
 * file. */
static const char *source_name(struct mt_symtab *st, const char *raw, const char *comp_dir)
{
	raw = mt_pool_intern(&st->pool, raw);
	comp_dir = raw && raw[0] != '/' && comp_dir && comp_dir[0] == '/'
	                   ? mt_pool_intern(&st->pool, comp_dir)
	                   : NULL;
	if (!raw)
		return NULL;
	if ((st->nnorms + 1) * 2 > st->nnorm_slots) {
		size_t n = st->nnorm_slots ? st->nnorm_slots * 2 : 64;
		struct norm_slot *s = calloc(n, sizeof *s);
		if (!s)
			return NULL;
		for (size_t i = 0; i < st->nnorm_slots; i++) {
			if (!st->norms[i].raw)
				continue;
			size_t j = mt_hash_mix((uintptr_t)st->norms[i].raw ^
			                       (uintptr_t)st->norms[i].dir * 31) &
			           (n - 1);
			while (s[j].raw)
				j = (j + 1) & (n - 1);
			s[j] = st->norms[i];
		}
		free(st->norms);
		st->norms = s;
		st->nnorm_slots = n;
	}
	size_t j = mt_hash_mix((uintptr_t)raw ^ (uintptr_t)comp_dir * 31) & (st->nnorm_slots - 1);
	while (st->norms[j].raw) {
		if (st->norms[j].raw == raw && st->norms[j].dir == comp_dir)
			return st->norms[j].norm;
		j = (j + 1) & (st->nnorm_slots - 1);
	}
	char *joined = NULL;
	if (comp_dir && asprintf(&joined, "%s/%s", comp_dir, raw) < 0)
		return NULL;
	const char *path = joined ? joined : raw;
	char *tidy = normpath(path);
	struct stat sb;
	const char *norm = mt_pool_intern(&st->pool, tidy && stat(tidy, &sb) == 0 ? tidy : path);
	free(tidy);
	free(joined);
	if (!norm)
		return NULL;
	st->norms[j] = (struct norm_slot){raw, comp_dir, norm};
	st->nnorms++;
	return norm;
}

/* ---- Frames of one address ---- */

struct framebuf {
	plumb_memtrace_frame f[64];
	size_t n;
};

/* The file and line of DW_AT_call_file/DW_AT_call_line of an inlined
 * subroutine: where it was inlined into its caller; and the compilation
 * directory the file name may be relative to. */
static void call_site(Dwarf_Die *inl, const char **file, const char **comp_dir, int *line)
{
	Dwarf_Attribute at;
	Dwarf_Word v;
	*file = NULL;
	*comp_dir = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &at), &v) == 0 && v <= INT32_MAX)
		*line = (int)v;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;
	if (!dwarf_diecu(inl, &cu, NULL, NULL))
		return;
	*comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &at));
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &at), &v) == 0 &&
	    dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && v < nfiles)
		*file = dwarf_filesrc(files, v, NULL, NULL);
}

/* One frame; the file:line when known, else "<module+0xoff>", line 0. */
static int push_frame(struct mt_symtab *st, struct framebuf *fb, const char *placeholder,
                      uintptr_t addr, const struct symmod *sm, const char *file,
                      const char *comp_dir, int line, const char *function, bool inlined)
{
	if (fb->n == sizeof fb->f / sizeof fb->f[0])
		fb->n--; /* absurdly deep inlining: the innermost and the outermost are kept */
	plumb_memtrace_frame *f = &fb->f[fb->n];
	*f = (plumb_memtrace_frame){.address = addr, .inlined = inlined};
	f->module = sm ? sm->m.path : NULL;
	if (file && *file && line > 0) {
		f->filename = source_name(st, file, comp_dir);
		f->lineno = (unsigned)line;
	} else {
		f->filename = placeholder;
	}
	if (!f->filename)
		return -ENOMEM;
	f->function = intern_name(st, function);
	if (function && *function && !f->function)
		return -ENOMEM;
	fb->n++;
	return 0;
}

static int resolve_in_module(struct mt_symtab *st, struct symmod *sm, uintptr_t addr, uintptr_t a,
                             const char *placeholder, struct framebuf *fb)
{
	Dwfl_Module *dm = sm->dm;
	GElf_Off off;
	GElf_Sym sym;
	const char *symname = dwfl_module_addrinfo(dm, a, &off, &sym, NULL, NULL, NULL);

	/* libdwfl gives an address in a gap between two compilation units'
	 * ranges to the lower one (crt1.o's _start between main and the
	 * next function, say), and its line table then answers with that
	 * unit's last line: only a unit that really covers the address is
	 * asked. */
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(dm, a, &bias);
	if (!cu || dwarf_haspc(cu, a - bias) <= 0)
		return push_frame(st, fb, placeholder, addr, sm, NULL, NULL, 0, symname, false);
	const char *file = NULL, *dir = NULL;
	int line = 0;
	Dwfl_Line *dl = dwfl_module_getsrc(dm, a);
	if (dl) {
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
		dir = dwfl_line_comp_dir(dl);
	}
	Dwarf_Die *scopes = NULL;
	int nscopes = dwarf_getscopes(cu, a - bias, &scopes);
	int rc = 0;
	bool done = false;
	for (int i = 0; i < nscopes && !done && rc == 0; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag == DW_TAG_inlined_subroutine) {
			rc = push_frame(st, fb, placeholder, addr, sm, file, dir, line,
			                die_name(&scopes[i]), true);
			call_site(&scopes[i], &file, &dir, &line);
		} else if (tag == DW_TAG_subprogram) {
			const char *name = die_name(&scopes[i]);
			rc = push_frame(st, fb, placeholder, addr, sm, file, dir, line,
			                name ? name : symname, false);
			done = true;
		}
	}
	free(scopes);
	if (rc == 0 && !done)
		rc = push_frame(st, fb, placeholder, addr, sm, file, dir, line, symname, false);
	return rc;
}

static int resolve_one(struct mt_symtab *st, uintptr_t addr, struct framebuf *fb)
{
	uintptr_t a = addr ? addr - 1 : 0;
	struct symmod *sm = find_module(st, a);
	char ph[300];
	if (!sm)
		snprintf(ph, sizeof ph, "<0x%" PRIxPTR ">", addr);
	else
		snprintf(ph, sizeof ph, "<%.200s+0x%" PRIxPTR ">", sm->label, addr - sm->m.bias);
	const char *placeholder = mt_pool_intern(&st->pool, ph);
	if (!placeholder)
		return -ENOMEM;
	fb->n = 0;
	if (sm && open_module(sm) == 1)
		return resolve_in_module(st, sm, addr, a, placeholder, fb);
	return push_frame(st, fb, placeholder, addr, sm, NULL, NULL, 0, NULL, false);
}

static struct addr_slot *find_addr(struct mt_symtab *st, uintptr_t addr)
{
	if (!st->naddr_slots)
		return NULL;
	size_t j = mt_hash_mix(addr) & (st->naddr_slots - 1);
	while (st->addrs[j].frames) {
		if (st->addrs[j].addr == addr)
			return &st->addrs[j];
		j = (j + 1) & (st->naddr_slots - 1);
	}
	return NULL;
}

static int grow_addrs(struct mt_symtab *st)
{
	size_t n = st->naddr_slots ? st->naddr_slots * 2 : 1024;
	struct addr_slot *s = calloc(n, sizeof *s);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < st->naddr_slots; i++) {
		if (!st->addrs[i].frames)
			continue;
		size_t j = mt_hash_mix(st->addrs[i].addr) & (n - 1);
		while (s[j].frames)
			j = (j + 1) & (n - 1);
		s[j] = st->addrs[i];
	}
	free(st->addrs);
	st->addrs = s;
	st->naddr_slots = n;
	return 0;
}

/* The cached frames of @addr, resolving them on first sight. */
static struct addr_slot *lookup(struct mt_symtab *st, uintptr_t addr)
{
	struct addr_slot *found = find_addr(st, addr);
	if (found)
		return found;
	if ((st->naddrs + 1) * 2 > st->naddr_slots && grow_addrs(st) < 0)
		return NULL;
	struct framebuf fb;
	if (resolve_one(st, addr, &fb) < 0)
		return NULL;
	plumb_memtrace_frame *frames = mt_pool_alloc(&st->pool, fb.n * sizeof *frames);
	if (!frames)
		return NULL;
	memcpy(frames, fb.f, fb.n * sizeof *frames);
	size_t j = mt_hash_mix(addr) & (st->naddr_slots - 1);
	while (st->addrs[j].frames)
		j = (j + 1) & (st->naddr_slots - 1);
	st->addrs[j] = (struct addr_slot){addr, frames, fb.n};
	st->naddrs++;
	return &st->addrs[j];
}

int mt_symtab_resolve(struct mt_symtab *st, const uintptr_t *addrs, size_t n,
                      plumb_memtrace_frame **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (n == 0) {
		plumb_memtrace_frame *f = malloc(sizeof *f);
		if (!f)
			return -ENOMEM;
		*f = mt_unknown_frame;
		*out = f;
		*nout = 1;
		return 0;
	}
	pthread_mutex_lock(&st->lock);
	size_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct addr_slot *s = lookup(st, addrs[i]);
		if (!s) {
			rc = -ENOMEM;
			goto out;
		}
		total += s->n;
	}
	plumb_memtrace_frame *f = malloc(total * sizeof *f);
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* Every address is in the table since the first pass. */
		const struct addr_slot *s = find_addr(st, addrs[i]);
		memcpy(f + k, s->frames, s->n * sizeof *f);
		k += s->n;
	}
	*out = f;
	*nout = total;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int mt_symtab_frames(struct mt_symtab *st, uintptr_t addr, const plumb_memtrace_frame **frames,
                     size_t *n)
{
	pthread_mutex_lock(&st->lock);
	const struct addr_slot *s = lookup(st, addr);
	if (s) {
		*frames = s->frames;
		*n = s->n;
	}
	pthread_mutex_unlock(&st->lock);
	return s ? 0 : -ENOMEM;
}
