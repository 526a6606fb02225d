/*
 * modules.c - the module map: which ELF object each return address is in.
 *
 * Stacks are raw addresses; to name them later (libdw, in the analysis
 * half) a reader needs each object's load address, text range, path and
 * build-id, which is what this file collects with dl_iterate_phdr.  That
 * takes the loader's lock, which a thread inside dlopen holds while it
 * calls malloc, so it is called only from the writer thread and from API
 * calls - never from a hook, and never while holding a lock a hook takes.
 *
 * The build-id comes from the object's PT_NOTE segments (already mapped),
 * so no file is opened; the main program has no name in the loader's list
 * and gets /proc/self/exe's.
 *
 * dlclose is interposed too: before an object goes away, the writer puts
 * the module map and every stack so far in the file (so blocks a plugin
 * allocated still read as its lines after it is unloaded), and after, the
 * unwind rules for its addresses are forgotten (another object may be
 * mapped there next).
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "tracer.h"

static char exe[4096];

const char *mt_exe_path(void)
{
	if (!exe[0]) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = 0;
	}
	return exe;
}

struct scan {
	struct mt_buf *out;
	size_t n;
	unsigned long long adds, subs;
	bool first;
};

static void build_id(const struct dl_phdr_info *info, const uint8_t **id, size_t *len)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof(*nh);
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);

			p = desc + ((nh->n_descsz + 3) & ~3u);
			if (p > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4)) {
				*id = desc;
				*len = nh->n_descsz;
				return;
			}
		}
	}
}

static int one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	struct mt_module m = {0};
	bool first = s->first;

	(void)size;
	s->first = false;
	s->adds = info->dlpi_adds;
	s->subs = info->dlpi_subs;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (!m.start || lo < m.start)
			m.start = lo;
		if (hi > m.end)
			m.end = hi;
	}
	if (!m.end)
		return 0;
	m.bias = info->dlpi_addr;
	if (info->dlpi_name && info->dlpi_name[0])
		m.path = strncmp(info->dlpi_name, "linux-vdso", 10) ? info->dlpi_name : "[vdso]";
	else
		m.path = first ? mt_exe_path() : "";
	build_id(info, &m.build_id, &m.build_id_len);
	if (!mt_buf_reserve(s->out, sizeof(m)))
		return 1;
	memcpy(s->out->p + s->out->len, &m, sizeof(m));
	s->out->len += sizeof(m);
	s->n++;
	return 0;
}

size_t mt_modules_scan(struct mt_buf *out, unsigned long long *adds, unsigned long long *subs)
{
	struct scan s = {.out = out, .first = true};

	out->len = 0;
	mt_exe_path();
	dl_iterate_phdr(one, &s);
	if (adds)
		*adds = s.adds;
	if (subs)
		*subs = s.subs;
	return s.n;
}

/* The text range of the loaded object @lm, from the loader's list. */
static bool range_of(const struct link_map *lm, uintptr_t *lo, uintptr_t *hi)
{
	struct mt_buf b = {0};
	size_t n = mt_modules_scan(&b, NULL, NULL);
	const struct mt_module *m = (const struct mt_module *)b.p;
	bool found = false;

	for (size_t i = 0; i < n && !found; i++) {
		if (m[i].bias != lm->l_addr || !lm->l_name || strcmp(m[i].path, lm->l_name))
			continue;
		*lo = m[i].start;
		*hi = m[i].end;
		found = true;
	}
	mt_buf_free(&b);
	return found;
}

int dlclose(void *handle)
{
	static int (*real)(void *);
	bool on = MT_LOAD(&mt_hot.state) == MT_ON && !mt_self.inside;
	struct link_map *lm = NULL;
	uintptr_t lo = 0, hi = 0;
	int r;

	mt_self.inside++;
	if (!real)
		real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
	if (on) {
		mt_writer_sync();
		if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !range_of(lm, &lo, &hi))
			lo = hi = 0;
	}
	/* The loader's own frees while it unloads (its bookkeeping for the
	 * object) are traced like any other: only our work above and below is
	 * not. */
	mt_self.inside--;
	r = real ? real(handle) : -1;
	mt_self.inside++;
	if (hi)
		mt_unwind_forget(lo, hi);
	mt_self.inside--;
	return r;
}
