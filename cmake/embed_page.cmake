# Turns a page's source into C: the bytes before the marker @ZDAG_REPORT@ as NAME_head, those
# after it as NAME_tail (each with its length), so the program writes the page with a report in
# the marker's place. Run as: cmake -DIN=page.html -DOUT=page.c -DNAME=zd_timeline -P this file.
file(READ "${IN}" page)
string(FIND "${page}" "@ZDAG_REPORT@" at)
if(at LESS 0)
  message(FATAL_ERROR "${IN}: no @ZDAG_REPORT@ marker where the report goes")
endif()
string(SUBSTRING "${page}" 0 ${at} head)
math(EXPR after "${at} + 13")
string(SUBSTRING "${page}" ${after} -1 tail)
set(c "/* Made by cmake/embed_page.cmake from ${IN}: do not edit. */\n#include <stddef.h>\n")
foreach(part head tail)
  string(HEX "${${part}}" hex)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
  string(APPEND c "const char ${NAME}_${part}[] = {\n${bytes}0};\n"
                  "const size_t ${NAME}_${part}_len = ${n};\n")
endforeach()
file(WRITE "${OUT}.tmp" "${c}")
file(RENAME "${OUT}.tmp" "${OUT}")
