"""The builtin model's phrasebook: every sentence it says, in English, Indonesian and Chinese.

``TEMPLATES[key]`` is an (English, Indonesian, Chinese) triple of ``str.format`` templates; the functions of
``builtin_phrases.py`` pick and fill them. ``Desc`` is a description with its first letter capitalized.
"""

from __future__ import annotations

#: key -> (English, Indonesian, Chinese) templates for ``str.format``
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "prev_plan": ("the result of step {k}", "hasil langkah {k}", "第{k}步的结果"),
    "prev_now": ("the previous result", "hasil sebelumnya", "上一步的结果"),
    "prev_answer": ("the above result", "hasil di atas", "上面的结果"),
    "plan_item": ("{k}. Calculate {desc}.", "{k}. Hitung {desc}.", "{k}. 计算{desc}"),
    "reason_first": (
        "The user is asking for {desc}. This is a math calculation, and I can get the exact value with the "
        "Python code interpreter.\n\nLet me write the code to compute {code}.",
        "Pengguna menanyakan {desc}. Ini adalah perhitungan matematis yang dapat saya lakukan dengan code "
        "interpreter Python untuk mendapatkan nilai yang tepat.\n\nMari saya tulis kode untuk menghitung "
        "{code}.",
        "用户想知道{desc}。这是一个数学计算，我可以用 Python 代码解释器得到精确的结果。\n\n我来写代码计算 "
        "{code}。",
    ),
    "reason_plan": (
        "The user wants {n} calculations, one run of the code interpreter each:\n{items}\n\nI'll run them "
        "in order and use each result exactly as returned. Let me perform the first calculation: {code}",
        "Pengguna meminta {n} perhitungan, masing-masing dengan satu kali eksekusi code interpreter:\n"
        "{items}\n\nSaya akan menjalankannya secara berurutan dan memakai setiap hasil persis seperti yang "
        "dikembalikan. Mari saya lakukan perhitungan pertama: {code}",
        "用户需要进行{n}次计算，每次运行一次代码解释器：\n{items}\n\n我会按顺序运行，并原样使用每一步的结果"
        "。先进行第一次计算：{code}",
    ),
    "reason_next": (
        "The {prev_ord} calculation returned: {prev}\n\nNow, for the {ord} run, I need to compute {desc}.",
        "Perhitungan {prev_ord} menghasilkan: {prev}\n\nSekarang, untuk eksekusi {ord}, saya perlu "
        "menghitung {desc}.",
        "{prev_ord}次计算的结果是：{prev}\n\n现在进行{ord}次运行，需要计算{desc}。",
    ),
    "reason_next_uses_prev": (
        " I must use this exact value, so the code is: {code}",
        " Saya harus memakai nilai persis ini, jadi kodenya: {code}",
        "我必须使用这个精确的值，所以代码是：{code}",
    ),
    "reason_next_independent": (
        " Let me write the code: {code}",
        " Mari saya tulis kodenya: {code}",
        "我来写代码：{code}",
    ),
    "reason_block_single": (
        "The user sent a Python code block and wants it run. I'll run it exactly as written with the code "
        "interpreter and then report what it prints or returns.",
        "Pengguna mengirim satu blok kode Python dan ingin kode itu dijalankan. Saya akan menjalankannya "
        "persis seperti yang ditulis dengan code interpreter, lalu melaporkan output atau hasilnya.",
        "用户发送了一个 Python 代码块，希望运行它。我会用代码解释器原样运行这段代码，然后报告它的输出或结果"
        "。",
    ),
    "reason_blocks": (
        "The user sent {n} Python code blocks. I'll run each block exactly as written, in order, one run of "
        "the code interpreter per block.\n\nStarting with block 1.",
        "Pengguna mengirim {n} blok kode Python. Saya akan menjalankan setiap blok persis seperti yang "
        "ditulis, secara berurutan, satu eksekusi code interpreter per blok.\n\nMulai dengan blok 1.",
        "用户发送了{n}个 Python 代码块。我会按顺序原样运行每个代码块，每个代码块运行一次代码解释器。\n\n先运"
        "行第1个代码块。",
    ),
    "reason_block_next": (
        "Block {prev} finished. {summary}\n\nNow I'll run block {k} exactly as written.",
        "Blok {prev} selesai. {summary}\n\nSekarang saya akan menjalankan blok {k} persis seperti yang "
        "ditulis.",
        "第{prev}个代码块已运行完毕。{summary}\n\n现在原样运行第{k}个代码块。",
    ),
    "output_is": ("Its output: {out}", "Outputnya: {out}", "输出：{out}"),
    "no_output": ("It produced no output.", "Blok itu tidak menghasilkan output.", "没有输出。"),
    "reason_done_single": (
        "The code ran and returned {r}. So {desc} is {r}.{big} I should present this result to the user "
        "directly.",
        "Kode berhasil dijalankan dan mengembalikan {r}. Jadi {desc} sama dengan {r}.{big} Saya akan "
        "menyampaikan hasil ini secara langsung kepada pengguna.",
        "代码运行完成，返回 {r}。所以{desc}等于 {r}。{big}我直接把这个结果告诉用户。",
    ),
    "big_number": (
        " This is a very large number, with {d} digits.",
        " Ini adalah angka yang sangat besar, dengan {d} digit.",
        "这是一个很大的数，共有 {d} 位。",
    ),
    "reason_done_many": (
        "The user asked for {n} calculations:\n{items}\n\nNow I need to report these results to the user.",
        "Pengguna meminta {n} perhitungan:\n{items}\n\nSekarang saya perlu menyampaikan hasil-hasil ini "
        "kepada pengguna.",
        "用户要求进行{n}次计算：\n{items}\n\n现在我需要把这些结果告诉用户。",
    ),
    "reason_done_item": (
        "{k}. {Desc}. The result is: {r}",
        "{k}. {Desc}. Hasilnya: {r}",
        "{k}. {desc}，结果是：{r}",
    ),
    "reason_done_block": (
        "The code ran without errors. {summary} I'll report this to the user.",
        "Kode berjalan tanpa error. {summary} Saya akan melaporkannya kepada pengguna.",
        "代码运行没有出错。{summary}我把结果告诉用户。",
    ),
    "reason_done_blocks": (
        "All {n} runs finished without errors. I'll report the output of each one to the user.",
        "Semua {n} eksekusi selesai tanpa error. Saya akan melaporkan output masing-masing kepada pengguna.",
        "{n}次运行都没有出错。我把每次的输出告诉用户。",
    ),
    "answer_single": ("{Desc} is **{r}**.", "{Desc} adalah: {r}", "{desc}等于 **{r}**。"),
    "answer_item": (
        "Result of the {ord} run: {Desc} = {r}",
        "Hasil eksekusi {ord}: {Desc} = {r}",
        "{ord}次运行的结果：{desc} = {r}",
    ),
    "answer_step": (
        "Result of step {k}: {Desc} = {r}",
        "Hasil langkah {k}: {Desc} = {r}",
        "第{k}步的结果：{desc} = {r}",
    ),
    "answer_block": (
        "The code ran successfully. Output:\n\n```\n{out}\n```",
        "Kode berhasil dijalankan. Output:\n\n```\n{out}\n```",
        "代码运行成功，输出：\n\n```\n{out}\n```",
    ),
    "answer_block_empty": (
        "The code ran successfully and produced no output.",
        "Kode berhasil dijalankan dan tidak menghasilkan output.",
        "代码运行成功，没有输出。",
    ),
    "answer_block_n": (
        "Output of run {k}:\n\n```\n{out}\n```",
        "Output eksekusi {k}:\n\n```\n{out}\n```",
        "第{k}次运行的输出：\n\n```\n{out}\n```",
    ),
    "answer_block_n_empty": (
        "Run {k} finished successfully and produced no output.",
        "Eksekusi {k} berhasil dan tidak menghasilkan output.",
        "第{k}次运行成功，没有输出。",
    ),
    "images": (
        "It also produced {n} figure(s).",
        "Kode ini juga menghasilkan {n} gambar.",
        "另外生成了 {n} 张图。",
    ),
    "truncated": ("(The output was truncated.)", "(Output dipotong.)", "（输出已被截断。）"),
    "failed_code": (
        "Running {code} failed with {err}.",
        "Menjalankan {code} gagal dengan {err}.",
        "运行 {code} 失败：{err}。",
    ),
    "failed_single": ("The code failed with {err}.", "Kode gagal dengan {err}.", "代码运行失败：{err}。"),
    "failed_nth": (
        "The {ord} run failed with {err}.",
        "Eksekusi {ord} gagal dengan {err}.",
        "{ord}次运行失败：{err}。",
    ),
    "reset_single": (
        "The code interpreter was restarted while running the code (it timed out or ran out of resources), "
        "so there is no result and earlier variables are gone.",
        "Code interpreter dimulai ulang saat menjalankan kode (melebihi batas waktu atau kehabisan sumber "
        "daya), sehingga tidak ada hasil dan variabel sebelumnya hilang.",
        "运行代码时代码解释器被重启（超时或资源耗尽），因此没有结果，之前的变量也已丢失。",
    ),
    "reset_nth": (
        "The code interpreter was restarted during the {ord} run (it timed out or ran out of resources), so "
        "that run has no result and earlier variables are gone.",
        "Code interpreter dimulai ulang saat eksekusi {ord} (melebihi batas waktu atau kehabisan sumber "
        "daya), sehingga eksekusi itu tidak menghasilkan apa pun dan variabel sebelumnya hilang.",
        "{ord}次运行时代码解释器被重启（超时或资源耗尽），因此这次运行没有结果，之前的变量也已丢失。",
    ),
    "reset_error": (" The error was {err}.", " Error-nya: {err}.", "错误信息：{err}。"),
    "stopped": (
        "I stopped there, so the remaining steps were not run.",
        "Saya berhenti di situ, jadi langkah berikutnya tidak dijalankan.",
        "我在这里停止了，后面的步骤没有运行。",
    ),
    "reason_failed": (
        "{what} I won't retry; I'll tell the user what went wrong.",
        "{what} Saya tidak akan mencoba lagi; saya akan menjelaskan apa yang salah kepada pengguna.",
        "{what}我不会重试，而是向用户说明出了什么问题。",
    ),
    "round_limit": (
        "I reached the limit on code interpreter runs for one request ({max}), so the remaining {left} "
        "step(s) were not run.",
        "Saya mencapai batas {max} eksekusi code interpreter untuk satu permintaan, jadi {left} langkah "
        "sisanya tidak dijalankan.",
        "已达到单次请求最多运行 {max} 次代码解释器的限制，剩下的 {left} 个步骤没有运行。",
    ),
    "unchainable": (
        "The previous result ({r}) is not a plain number, so I could not use it in the next step.",
        "Hasil sebelumnya ({r}) bukan angka biasa, jadi saya tidak dapat memakainya di langkah berikutnya.",
        "上一步的结果（{r}）不是一个普通的数字，所以无法在下一步中使用它。",
    ),
    "reason_unknown": (
        "The message doesn't contain a calculation I can recognise or a ```python block to run, so there is "
        "nothing to execute. I'll tell the user what I can do.",
        "Pesan ini tidak berisi perhitungan yang bisa saya kenali atau blok ```python untuk dijalankan, "
        "jadi tidak ada yang perlu dieksekusi. Saya akan menjelaskan apa yang bisa saya lakukan.",
        "这条消息里没有我能识别的算式，也没有要运行的 ```python 代码块，所以没有需要执行的内容。我来说明我能"
        "做什么。",
    ),
    "answer_unknown": (
        "I couldn't find a calculation or code to run in your message. I'm the emulator's built-in offline "
        'model, and I can:\n- do arithmetic: +, -, ×, ÷, powers ("2 to the power of 10", "2^10"), '
        'square roots, factorials;\n- run multi-step calculations ("First … Second …") that reuse the '
        "previous result;\n- run the Python code in ```python blocks you send, one run per block, and "
        "report the output.",
        "Saya tidak menemukan perhitungan atau kode untuk dijalankan dalam pesan Anda. Saya adalah model "
        "bawaan emulator yang bekerja offline, dan saya dapat:\n- melakukan aritmetika: +, -, ×, ÷, pangkat "
        '("2 pangkat 10", "2^10"), akar kuadrat, faktorial;\n- menjalankan perhitungan bertahap '
        '("Pertama … Kedua …") yang memakai hasil sebelumnya;\n- menjalankan kode Python dalam blok '
        "```python yang Anda kirim, satu eksekusi per blok, dan melaporkan output-nya.",
        "我没有在你的消息中找到可以计算的算式或可以运行的代码。我是模拟器内置的离线模型，可以：\n- 做算术："
        "加减乘除、乘方（“2的10次方”、“2^10”）、平方根、阶乘；\n- 进行多步计算（“首先……然后……”），后一步可以"
        "使用上一步的结果；\n- 原样运行你发送的 ```python 代码块，每个代码块运行一次，并报告输出。",
    ),
    "reason_local": (
        "The code interpreter is not enabled for this request, so I'll work this out directly:\n{items}\n\n"
        "I'll give the user the result.",
        "Code interpreter tidak diaktifkan untuk permintaan ini, jadi saya akan menghitungnya langsung:\n"
        "{items}\n\nSaya akan menyampaikan hasilnya kepada pengguna.",
        "本次请求没有启用代码解释器，所以我直接计算：\n{items}\n\n我把结果告诉用户。",
    ),
    "local_failed": (
        "{Desc} can't be computed: {err}.",
        "{Desc} tidak dapat dihitung: {err}.",
        "{desc}无法计算：{err}。",
    ),
    "local_too_large": (
        "{Desc} is too large to compute without the code interpreter. Enable the code interpreter and ask "
        "again.",
        "{Desc} terlalu besar untuk dihitung tanpa code interpreter. Aktifkan code interpreter lalu "
        "tanyakan lagi.",
        "{desc}太大了，没有代码解释器无法计算。请启用代码解释器后再问一次。",
    ),
    "reason_code_needs_interpreter": (
        "The user wants Python code run, but the code interpreter is not enabled for this request, so I "
        "can't execute it. I'll say so.",
        "Pengguna ingin kode Python dijalankan, tetapi code interpreter tidak diaktifkan untuk permintaan "
        "ini, jadi saya tidak dapat mengeksekusinya. Saya akan menyampaikannya.",
        "用户希望运行 Python 代码，但本次请求没有启用代码解释器，所以我无法执行。我会如实说明。",
    ),
    "answer_code_needs_interpreter": (
        "The code interpreter is not enabled for this request, so I can't run this code. Enable it (the "
        "code_interpreter tool, or enable_code_interpreter) and send the code again.",
        "Code interpreter tidak diaktifkan untuk permintaan ini, jadi saya tidak dapat menjalankan kode "
        "ini. Aktifkan code interpreter (tool code_interpreter, atau enable_code_interpreter) lalu kirim "
        "kodenya lagi.",
        "本次请求没有启用代码解释器，所以我无法运行这段代码。请启用代码解释器（code_interpreter 工具或 "
        "enable_code_interpreter）后重新发送代码。",
    ),
}
