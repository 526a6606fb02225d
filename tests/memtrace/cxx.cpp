/*
 * cxx.cpp - C++ allocations through operator new / new[], from a
 * namespaced class's methods and from templates, leaking known objects.
 *
 * operator new lives in libstdc++ and calls malloc; the frames the test
 * looks at are the first ones in this file, which must carry demangled
 * names:
 *   CXX_MAKE   ns::Widget::make(int)        leaks 2 Widgets (WIDGET_SIZE)
 *   CXX_MANY   ns::Widget::make_many(int)   leaks 1 new Widget[MANY_N]:
 *              MANY_N * WIDGET_SIZE + 8, the array cookie the Itanium
 *              C++ ABI adds before an array of a destructible type
 *   CXX_ARRAY  long* ns::make_array<long>(unsigned long)
 *                                           leaks 1 long[ARRAY_N]
 *   CXX_BOX    ns::Box<int>::create()       leaks 1 Box<int> (BOX_SIZE)
 * Each also makes objects that are deleted (delete, delete[]), and a
 * std::vector and a std::string come and go: none of that is left.
 * Nothing prints.
 */
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ns
{

enum : std::size_t { WIDGET_SIZE = 32, MANY_N = 3, ARRAY_N = 25, BOX_INTS = 10 };

struct Widget {
	std::int64_t id;
	std::int64_t data[3];

	Widget() : id(0), data{0, 0, 0}
	{
	}
	explicit Widget(std::int64_t n) : id(n), data{n, n, n}
	{
	}
	/* Not trivial: new Widget[n] stores n in a cookie before the array. */
	~Widget()
	{
		id = -1;
		__asm__ volatile("" : : "r"(this) : "memory");
	}

	static Widget *make(int n);
	static Widget *make_many(int n);
};
static_assert(sizeof(Widget) == WIDGET_SIZE, "Widget's size is part of the test");

__attribute__((noinline)) Widget *Widget::make(int n)
{
	Widget *w = new Widget(n); /* CXX_MAKE */
	__asm__ volatile("" : : "r"(w) : "memory");
	return w;
}

__attribute__((noinline)) Widget *Widget::make_many(int n)
{
	Widget *w = new Widget[n]; /* CXX_MANY */
	__asm__ volatile("" : : "r"(w) : "memory");
	return w;
}

template <typename T> __attribute__((noinline)) T *make_array(std::size_t n)
{
	T *a = new T[n](); /* CXX_ARRAY */
	__asm__ volatile("" : : "r"(a) : "memory");
	return a;
}

template <typename T> struct Box {
	T v[BOX_INTS];
	static Box *create();
};

template <typename T> __attribute__((noinline)) Box<T> *Box<T>::create()
{
	Box<T> *b = new Box<T>(); /* CXX_BOX */
	__asm__ volatile("" : : "r"(b) : "memory");
	return b;
}

} // namespace ns

/* volatile: stores the compiler may not drop, so neither the blocks. */
static void *volatile leaked[8];

int main()
{
	leaked[0] = ns::Widget::make(1);
	leaked[1] = ns::Widget::make(2);
	delete ns::Widget::make(3);

	leaked[2] = ns::Widget::make_many(ns::MANY_N);
	delete[] ns::Widget::make_many(4);

	leaked[3] = ns::make_array<long>(ns::ARRAY_N);
	delete[] ns::make_array<long>(100);

	leaked[4] = ns::Box<int>::create();
	delete ns::Box<int>::create();

	std::vector<std::string> v;
	for (int i = 0; i < 100; i++)
		v.push_back(std::string(40 + i, 'x'));
	__asm__ volatile("" : : "r"(v.data()) : "memory");
	return leaked[4] ? 0 : 1;
}
