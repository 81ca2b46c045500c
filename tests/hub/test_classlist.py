"""The hub's class list: who is a student, the instructor, a grader; refused with the file and
line when it cannot be used."""

import pytest

from course.hub.classlist import ClassListError, read_class_list


def write(tmp_path, text):
    path = tmp_path / "class.csv"
    path.write_text(text)
    return path


def test_roles_are_read_in_order(tmp_path):
    found = read_class_list(write(tmp_path, "id,role,name\nmlee,Instructor,M Lee\ntg,grader,\ns1,student,A\n"
                                            "\ns-2,student,B\n"))
    assert found.instructor == "mlee" and found.staff == ["mlee", "tg"] and found.students == ["s1", "s-2"]


@pytest.mark.parametrize("text, said", [
    ("login,role\nmlee,instructor\n", "must name the columns id and role"),
    ("id,role\nmlee,instructor\nBob Smith,student\n", "line 3: 'Bob Smith' cannot be a login"),
    ("id,role\nmlee,instructor\n1abc,student\n", "line 3: '1abc' cannot be a login"),
    ("id,role\nroot,instructor\n", "line 2: 'root' cannot be a login"),
    ("id,role\nmlee,instructor\ns1,auditor\n", "line 3: role 'auditor' is not one of student, instructor, grader"),
    ("id,role\nmlee,instructor\ns1,student\ns1,student\n", "line 4: 's1' is on line 3 too"),
    ("id,role\ns1,student\n", "needs exactly one instructor (who runs formgrader), has 0"),
    ("id,role\na,instructor\nb,instructor\n", "has 2: a, b"),
])
def test_a_bad_class_list_is_refused_naming_the_file_and_line(tmp_path, text, said):
    with pytest.raises(ClassListError) as refused:
        read_class_list(write(tmp_path, text))
    assert str(tmp_path / "class.csv") in str(refused.value) and said in str(refused.value), str(refused.value)
